"""serve_app.on_head, compose's Ray head command: the head runs as its child, its exit code and
the signals a container stop sends pass through. (The Serve config it applies is the one
`tests/integration/test_serve.py` deploys declaratively.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("BURNOUT_")},
    "BURNOUT_RAY_AUTH_TOKEN": "t" * 24,
    "BURNOUT_RAY_ADDRESS": "http://127.0.0.1:9",  # nothing listens: no Serve to declare
}


def on_head(*child: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "serve_app.on_head", "--", *child],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_the_heads_exit_code_is_the_containers() -> None:
    process = on_head(sys.executable, "-c", "raise SystemExit(3)")
    assert process.wait(timeout=60) == 3, process.stderr.read() if process.stderr else ""


def test_a_container_stop_reaches_the_head() -> None:
    ready = "import signal, sys, time\n" + (
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))\nprint('up', flush=True)\n"
        "time.sleep(120)\n"
    )
    process = on_head(sys.executable, "-c", ready)
    assert process.stdout is not None and process.stdout.readline().strip() == "up"
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 7  # the head's own handler ran: the signal was passed on
    assert time.monotonic() - started < 30
