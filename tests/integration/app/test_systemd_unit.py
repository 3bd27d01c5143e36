"""``systemd/edged.service`` passes ``systemd-analyze verify`` and has what the daemon relies on."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, need

UNIT = REPO / "systemd" / "edged.service"


def verify(text: str, tmp_path: Path) -> str:
    """Run ``systemd-analyze verify`` on ``text``; returns what it says about the unit (empty = clean)."""
    need(shutil.which("systemd-analyze") is not None, "systemd-analyze (apt-get install systemd)")
    path = tmp_path / "edged.service"
    # ExecStart must exist on this machine: point it at this interpreter running the same command
    path.write_text(text.replace("/opt/edged/.venv/bin/edged", f"{sys.executable} -m edged"))
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True, text=True, timeout=60
    )
    lines = [
        ln for ln in (proc.stdout + proc.stderr).splitlines() if str(path) in ln or "edged.service" in ln
    ]
    if proc.returncode != 0:
        lines.append(f"exit {proc.returncode}")
    return "\n".join(lines)


def test_unit_verifies_clean(tmp_path: Path) -> None:
    assert verify(UNIT.read_text(), tmp_path) == ""


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("Type=notify", "Type=notifyy")
    assert "notifyy" in verify(broken, tmp_path)


def test_unit_properties() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    # repeated keys (DeviceAllow, LoadCredential) are kept by reading them line by line below
    parser.read_string(UNIT.read_text())
    svc = parser["Service"]
    assert svc["Type"] == "notify"
    assert svc["Restart"] == "on-failure"
    assert int(svc["WatchdogSec"]) > 0
    assert svc["ProtectSystem"] == "strict"
    assert svc["User"] == "edged" and svc["ExecReload"].endswith("-HUP $MAINPID")
    lines = UNIT.read_text().splitlines()
    devices = [ln.split("=", 1)[1] for ln in lines if ln.startswith("DeviceAllow=")]
    assert any(d.startswith("/dev/tty") for d in devices) and any("video4linux" in d for d in devices)
    creds = [ln.split("=", 1)[1] for ln in lines if ln.startswith("LoadCredential=")]
    assert any(c.startswith("template-key:") for c in creds)
    assert "DevicePolicy=closed" in lines
    assert "run --config" in svc["ExecStart"]
