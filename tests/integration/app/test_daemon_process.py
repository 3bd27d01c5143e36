"""``edged run`` as systemd runs it: a real process, the notify socket, SIGHUP with a broken and a good
config, SIGTERM. Needs the installed models (the daemon is READY only once they are warm)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.app.conftest import write_clip


def config(models_dir: Path, clip: Path, mode: str) -> dict[str, object]:
    return {
        "models": {"dir": str(models_dir)},
        "cameras": {"rgb": {"type": "file", "path": str(clip), "loop": True}},
        "policy": {"mode": mode},
        "gate": {"type": "simulator"},
    }


class Notify:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[str] = []

    def wait_for(self, field: str, timeout: float = 60.0) -> list[str]:
        """Datagrams up to and including the first that holds ``field``."""
        end = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < end:
            self.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                msg = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            seen.append(msg)
            self.messages.append(msg)
            if field in msg.split("\n"):
                return seen
        raise AssertionError(f"no {field} within {timeout} s; got {seen}")


@pytest.fixture()
def daemon(tmp_path: Path, models_dir: Path):  # type: ignore[no-untyped-def]
    clip = write_clip(tmp_path / "corridor.avi")
    cfg_path = tmp_path / "edged.yaml"
    cfg_path.write_text(yaml.safe_dump(config(models_dir, clip, "screening")))
    notify = Notify(tmp_path / "notify.sock")
    env = dict(
        os.environ, NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="1000000", PYTHONPATH=str(REPO)
    )
    env.pop("WATCHDOG_PID", None)
    err = open(tmp_path / "stderr.log", "w+")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "edged", "run", "--config", str(cfg_path)],
        env=env,
        stderr=err,
        stdout=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    yield proc, notify, cfg_path, tmp_path / "stderr.log"
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    err.close()
    notify.sock.close()


def test_ready_watchdog_reload_and_stop(daemon) -> None:  # type: ignore[no-untyped-def]
    proc, notify, cfg_path, stderr = daemon
    notify.wait_for("READY=1")
    notify.wait_for("WATCHDOG=1")

    good = yaml.safe_load(cfg_path.read_text())
    cfg_path.write_text("policy:\n  mode: open-sesame\n  bogus: 1\n")  # an operator's typo
    proc.send_signal(signal.SIGHUP)
    seen = notify.wait_for("READY=1")
    assert any("RELOADING=1" in m for m in seen)
    assert proc.poll() is None, "a broken config must not stop the daemon"
    log = stderr.read_text()
    assert "config rejected, keeping the running one" in log and "edged.yaml:2" in log

    good["policy"]["mode"] = "locked"
    cfg_path.write_text(yaml.safe_dump(good))
    proc.send_signal(signal.SIGHUP)
    seen = notify.wait_for("READY=1")
    assert any("RELOADING=1" in m for m in seen)
    assert any("mode locked" in m for m in seen)
    notify.wait_for("WATCHDOG=1")  # still healthy after both reloads

    proc.send_signal(signal.SIGTERM)
    notify.wait_for("STOPPING=1")
    assert proc.wait(timeout=60) == 0
    log = stderr.read_text()
    assert "config reloaded (mode locked)" in log
    assert "fail state locked" in log  # the gate is left in its fail state


def test_startup_error_is_one_clear_line(tmp_path: Path, models_dir: Path) -> None:
    cfg_path = tmp_path / "edged.yaml"
    # no camera configured
    cfg_path.write_text(yaml.safe_dump({"models": {"dir": str(models_dir)}, "policy": {"mode": "screening"}}))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.run(
        [sys.executable, "-m", "edged", "run", "--config", str(cfg_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "edged: no camera configured" in proc.stderr and "Traceback" not in proc.stderr
