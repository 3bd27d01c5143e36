"""``edged console hash-password`` prints a hash that verifies, and refuses a short password."""

from __future__ import annotations

import os
import subprocess
import sys

from edged.console.passwords import check_hash_format, verify_password
from tests.conftest import REPO


def run(stdin: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "edged", "console", "hash-password"],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_hash_password_prints_a_hash_of_the_password_and_never_the_password() -> None:
    proc = run("a long enough passphrase\n")
    assert proc.returncode == 0, proc.stderr
    stored = proc.stdout.strip()
    check_hash_format(stored)
    assert verify_password("a long enough passphrase", stored)
    assert "passphrase" not in proc.stdout + proc.stderr


def test_a_short_password_is_refused() -> None:
    proc = run("short\n")
    assert proc.returncode == 1 and "12 characters" in proc.stderr and proc.stdout == ""
