"""Run the Ray head and keep the Serve application declared on it (compose's `ray-head`).

    python -m serve_app.on_head -- ray start --head --block ...

The head's command runs as a child; once its dashboard answers, the Serve config
(`serve_app/config.yaml`, as `python -m serve_app.deploy apply`) is applied, so a restarted head
container comes back serving, not waiting for a one-shot deploy job. Exits with the child's code;
SIGTERM and SIGINT are passed on to it.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from typing import Annotated

import typer

from ray_jobs.core import cli
from ray_jobs.core.polling import ray_dashboard_up, wait_until
from ray_jobs.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

HEAD_WAIT_S = 300.0


def declare_serve(settings: Settings, head: subprocess.Popen[bytes]) -> None:
    """Apply the Serve config once the head's dashboard answers; log, never raise: a head
    without the app is still a head (`python -m serve_app.deploy apply` by hand fixes it)."""
    from serve_app.deploy import apply

    if not wait_until(lambda: head.poll() is not None or ray_dashboard_up(settings), HEAD_WAIT_S):
        log.error("the head's dashboard did not answer in %.0f s: Serve not deployed", HEAD_WAIT_S)
        return
    if head.poll() is not None:
        return
    try:
        apply(settings)
    except Exception as error:  # noqa: BLE001  (reported; the head keeps running)
        log.error("could not deploy the Serve application: %s", error)
        return
    log.info("Serve application '%s' declared on the head", settings.serve_app_name)


app = typer.Typer(help=__doc__, pretty_exceptions_enable=False, add_completion=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(
    entrypoint: Annotated[list[str], typer.Argument(help="the head's command (`ray start ...`)")],
) -> None:
    """Run ENTRYPOINT (the Ray head) and declare the Serve application on it."""
    settings = get_settings()
    head = subprocess.Popen(entrypoint)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: head.send_signal(number))
    threading.Thread(target=declare_serve, args=(settings, head), daemon=True).start()
    sys.exit(head.wait())


if __name__ == "__main__":
    cli.run(app)
