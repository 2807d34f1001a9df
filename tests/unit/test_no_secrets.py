"""Secret scan of every committed file: credentials come from the environment, never from git."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATTERNS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN (RSA |EC |DSA |OPENSSH )?PRIVATE KEY-----"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    "URL with a password": re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@${}]+:[^\s@${}<]{6,}@"),
    # name = "long literal"; values built from variables, placeholders or test calls do not match.
    "secret assignment": re.compile(
        r"(?i)\b\w*(password|passwd|secret|token|access_key|api_key)\w*\b[\"']?\s*[:=]\s*"
        r"[\"']([A-Za-z0-9+/_\-]{16,})[\"']"
    ),
}


def _tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return [ROOT / name.decode() for name in listed if name]


def scan(text: str) -> list[str]:
    """The names of the patterns found in text."""
    return [name for name, pattern in PATTERNS.items() if pattern.search(text)]


def test_the_scanner_catches_what_it_looks_for() -> None:
    # Samples are assembled at run time so this file does not trip its own scan.
    assert scan("aws_key = AKIA" + "ABCDEFGHIJKLMNOP") == ["AWS access key id"]
    assert scan("-----BEGIN OPENSSH " + "PRIVATE KEY-----") == ["private key"]
    assert scan("api_token = " + '"s3cr3t-l0ng-v4lue-xyz"') == ["secret assignment"]
    assert scan("postgresql://burnout:" + "hunter2hunter2@postgres/x") == ["URL with a password"]
    assert scan("postgresql://burnout:${BURNOUT_POSTGRES_PASSWORD:?}@postgres/x") == []
    assert scan("BURNOUT_S3_SECRET_KEY=__generate__") == []


def test_no_credentials_are_committed() -> None:
    files = _tracked_files()
    assert len(files) > 50
    local_secrets = []
    env = ROOT / ".env"
    if env.exists():  # the values `make .env` generated must not leak into tracked files
        local_secrets = re.findall(r"^BURNOUT_\w*(?:KEY|TOKEN|PASSWORD|SECRET)\w*=(\S{12,})$",
                                   env.read_text(), re.M)  # fmt: skip
    found = []
    for path in files:
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary (plots)
        found += [f"{path.relative_to(ROOT)}: {name}" for name in scan(text)]
        found += [
            f"{path.relative_to(ROOT)}: a value from .env" for s in local_secrets if s in text
        ]
    assert not found, found
