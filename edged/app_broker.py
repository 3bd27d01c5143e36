"""A private mosquitto for one run (demo, benchmark, tests): loopback only, a free port, removed after."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import IO

from edged.mqtt.localbroker import BrokerError, free_port, wait_listening

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto")


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in MOSQUITTO_PATHS if Path(p).is_file()), None)


class LocalBroker:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        exe = find_mosquitto()
        if exe is None:
            raise BrokerError(
                "mosquitto is not installed (scripts/setup installs it: apt-get install mosquitto)"
            )
        self._dir = tempfile.TemporaryDirectory(prefix="edged-mqtt-")
        conf = Path(self._dir.name) / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self._log = open(Path(self._dir.name) / "mosquitto.log", "wb")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen([exe, "-c", str(conf)], stdout=self._log, stderr=subprocess.STDOUT)
        if wait_listening(
            self._proc,
            self.host,
            self.port,
            timeout_s,
            lambda: f"mosquitto exited at start: {self.log_tail()}",
        ):
            return
        self.stop()
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout_s:.0f} s")

    def log_tail(self) -> str:
        if self._dir is None:
            return ""
        path = Path(self._dir.name) / "mosquitto.log"
        return path.read_text(errors="replace")[-500:] if path.exists() else ""

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
