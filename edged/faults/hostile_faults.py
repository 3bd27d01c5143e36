"""Fault scenarios: hostile files. Image and config bombs (:mod:`edged.faults.hostile_files`) given to
each CLI command and to the running daemon (MQTT ``enroll`` with ``image_b64``, SIGHUP with an alias bomb
behind a config file that hangs). Each command must answer in one line, exit non-zero, show no traceback
and stay under ``RSS_BOUND_MB``; the daemon must keep its gate beating and honour SIGTERM.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from edged.faults import Outcome, Scenario
from edged.faults import hostile_files as hostile

RSS_BOUND_MB = 1024  # the bound for every hostile file
CHILD_AS_LIMIT = 4 << 30  # address-space cap on each command run here, so a regression cannot eat the host
REPO = Path(__file__).resolve().parents[2]
WAIT_S = 60.0  # how long to wait for the daemon to reach a state (a liveness bound, not a speed claim)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_PID")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


# Runs ``edged.cli`` in a grandchild: a forked child's peak RSS starts at its parent's size, so the small
# wrapper in between makes RUSAGE_CHILDREN the command's own peak; it also caps the address space.
_WRAPPER = """
import json, resource, subprocess, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
rc = subprocess.run([sys.executable, "-m", "edged.cli", *sys.argv[3:]], timeout=float(sys.argv[2])).returncode
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": rc, "peak_kb": peak_kb}))
"""


def run_bounded(argv: list[str], cwd: Path, timeout_s: float = 120.0) -> dict[str, Any]:
    """``python -m edged.cli ARGV`` as its own process: exit code, stderr lines, peak RSS."""
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(CHILD_AS_LIMIT), str(timeout_s), *argv],
        cwd=cwd,
        env=_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s + 30,
    )
    try:
        measured = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        measured = {"rc": None, "peak_kb": float("nan")}  # the wrapper itself failed: not a refusal
    lines = proc.stderr.strip().splitlines()
    return {
        "argv": " ".join(argv[:2]),
        "rc": measured["rc"],
        "stderr_lines": len(lines),
        "first_line": lines[0][:200] if lines else "",
        "traceback": "Traceback" in proc.stderr,
        "peak_rss_mb": round(measured["peak_kb"] / 1024, 1),
    }


def _one_line_refusal(run: dict[str, Any]) -> bool:
    return (
        run["rc"] not in (0, None)
        and run["stderr_lines"] == 1
        and not run["traceback"]
        and run["peak_rss_mb"] < RSS_BOUND_MB
    )


def _image_bombs(folder: Path) -> dict[str, Path]:
    out = {}
    for name, make in (("bomb.jpg", hostile.jpeg_bomb), ("bomb.png", hostile.png_bomb)):
        path = folder / name
        path.write_bytes(make())
        out[name] = path
    return out


# ---- the daemon as systemd runs it ------------------------------------------------------------------
class _Notify:
    """The daemon's sd_notify datagrams, collected by a thread with their arrival time."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.sock.recv(4096).decode(errors="replace")
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.messages.append((time.monotonic(), msg))

    def since(self, t0: float, field: str) -> list[float]:
        with self._lock:
            return [t for t, m in self.messages if t >= t0 and field in m.split("\n")]

    def wait_for(self, t0: float, field: str, timeout: float = WAIT_S) -> float | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            seen = self.since(t0, field)
            if seen:
                return seen[0]
            time.sleep(0.05)
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1.0)
        self.sock.close()


class _Daemon:
    """``edged run`` on a looping faceless clip, simulator gate, notify socket; stderr to a file."""

    def __init__(self, folder: Path, doc: dict[str, Any]) -> None:
        from edged.models import resolve_models_dir

        clip = _write_clip(folder / "corridor.avi")
        doc = {
            "models": {"dir": str(resolve_models_dir(os.environ.get("EDGED_MODELS_DIR")))},
            "cameras": {"rgb": {"type": "file", "path": str(clip), "loop": True}},
            "policy": {"mode": "screening"},
            "gate": {"type": "simulator", "safety": {"heartbeat_timeout_s": 1.0}},
            **doc,
        }
        self.cfg_path = folder / "edged.yaml"
        self.cfg_path.write_text(yaml.safe_dump(doc))
        self.log_path = folder / "daemon.log"
        self.notify = _Notify(folder / "notify.sock")
        env = _env(NOTIFY_SOCKET=str(folder / "notify.sock"), WATCHDOG_USEC="1000000")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edged", "run", "--config", str(self.cfg_path)],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def ready(self) -> bool:
        return self.notify.wait_for(self.started, "READY=1", timeout=120.0) is not None

    def peak_rss_mb(self) -> float:
        """VmHWM: the most memory the daemon has held since it started."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return float("nan")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        self.notify.close()


def _write_clip(path: Path) -> Path:
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 20.0, (160, 120))
    for i in range(20):
        writer.write(np.full((120, 160, 3), (i * 7) % 200, np.uint8))
    writer.release()
    return path


def _wait(pred: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


# ---- scenarios -----------------------------------------------------------------------------------------
def hostile_images(folder: Path) -> Outcome:
    """detect, compare and enroll on a JPEG declaring 65000×65000 and a 124 KB PNG declaring 32000×32000,
    then the same PNG and JPEG sent to the running daemon as MQTT ``enroll`` with ``image_b64``."""
    from edged.identity.crypto import write_new_key

    bombs = _image_bombs(folder)
    key = folder / "gallery.key"
    write_new_key(key)
    identity = {"database": str(folder / "gallery.db"), "template_key": {"file": str(key)}}
    cfg = folder / "cli.yaml"
    cfg.write_text(yaml.safe_dump({"identity": identity}))
    runs = []
    for name, path in bombs.items():
        for argv in (
            ["detect", str(path)],
            ["compare", str(path), str(path)],
            ["enroll", "--config", str(cfg), "--id", "p1", "--name", "P", "--consent-source", "t", str(path)],
        ):
            run = run_bounded(argv, folder)
            runs.append({"file": name, **run, "ok": _one_line_refusal(run)})
    mqtt = _mqtt_enroll_bombs(folder, bombs, identity)
    ok = all(r["ok"] for r in runs) and mqtt["ok"]
    return Outcome(ok, {"cli": runs, "mqtt_enroll": mqtt})


def _mqtt_enroll_bombs(folder: Path, bombs: dict[str, Path], identity: dict[str, Any]) -> dict[str, Any]:
    import paho.mqtt.client as mqtt

    from edged.app_broker import LocalBroker
    from edged.mqtt.signing import generate_private_key_pem, load_private_key, public_key_b64, sign_command

    key = load_private_key(generate_private_key_pem())
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()
    with LocalBroker() as broker:
        daemon = _Daemon(
            folder,
            {
                "device_id": "hostile",
                "identity": identity,
                "mqtt": {
                    "enabled": True,
                    "host": broker.host,
                    "port": broker.port,
                    "outbox": {"path": str(folder / "outbox.sqlite3")},
                    "commands": {"operator_keys": {"ops": public_key_b64(key)}},
                },
            },
        )
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hostile-operator")

        def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
            with lock:
                answers.append(json.loads(msg.payload))

        client.on_message = on_message
        client.on_connect = lambda c, *_: c.subscribe("edged/hostile/cmd/enroll/result", qos=1)
        try:
            if not daemon.ready():
                return {"ok": False, "error": "daemon not READY", "log": daemon.log()[-500:]}
            client.connect(broker.host, broker.port)
            client.loop_start()
            time.sleep(0.5)  # the subscription is in place
            rss_ready = daemon.peak_rss_mb()
            sent = [(name, base64.b64encode(path.read_bytes()).decode()) for name, path in bombs.items()]
            sent.append(("not base64", "@@@@"))  # refused in words, never an internal error
            replies = []
            for n, (name, image_b64) in enumerate(sent):
                args: dict[str, object] = {"person_id": f"bomb-{n}", "image_b64": image_b64}
                body = sign_command(key, "ops", "enroll", "hostile", args)
                client.publish("edged/hostile/cmd/enroll", body, qos=1).wait_for_publish(5)
                if not _wait(lambda n=n: len(answers) > n):  # type: ignore[misc]
                    replies.append({"file": name, "answered": False})
                    continue
                with lock:
                    reply = answers[n]
                replies.append(
                    {
                        "file": name,
                        "ok": reply.get("ok"),
                        "reason": reply.get("reason"),
                        "detail": reply.get("detail"),
                    }
                )
            peak = daemon.peak_rss_mb()
            alive = daemon.proc.poll() is None
            refused = all(
                r.get("ok") is False
                and r.get("reason") == "invalid_args"
                and ("declares" in str(r.get("detail")) or r["file"] == "not base64")
                for r in replies
            )
            return {
                "ok": refused and alive and peak < RSS_BOUND_MB,
                "replies": replies,
                "daemon_alive": alive,
                "daemon_peak_rss_mb_ready": rss_ready,
                "daemon_peak_rss_mb_after": peak,
            }
        finally:
            client.loop_stop()
            client.disconnect()
            daemon.close()


def hostile_configs(folder: Path) -> Outcome:
    """``check-config`` on a billion-laughs file, 100,000-deep nesting, a complex key, a 5,000-digit
    integer, a recursive alias and a 50 MB file: one ``FILE:LINE: message`` each, bounded memory."""
    files: dict[str, str | bytes] = {
        "alias_bomb.yaml": hostile.yaml_alias_bomb(),
        "deep.yaml": hostile.yaml_deep(),
        "complex_key.yaml": hostile.yaml_complex_key(),
        "huge_int.yaml": hostile.yaml_huge_int(),
        "recursive.yaml": "policy: &p\n  self: *p\n",
        "oversize.yaml": hostile.yaml_oversize(50),
    }
    runs = []
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        run = run_bounded(["check-config", str(path)], folder)
        located = run["first_line"].startswith(f"{path}:") and run["first_line"].split(":")[1].isdigit()
        runs.append(
            {"file": name, "bytes": path.stat().st_size, **run, "ok": _one_line_refusal(run) and located}
        )
        if name == "oversize.yaml":
            path.unlink()  # 50 MB: not kept in the work folder
    return Outcome(all(r["ok"] for r in runs), {"runs": runs})


def sighup_bad_config(folder: Path) -> Outcome:
    """SIGHUP while the config file hangs (a FIFO nobody writes yet), then turns out an alias bomb: the
    gate keeps its heartbeat (no fail state) and the old config runs; then SIGHUP again on a hanging file
    and SIGTERM at once: the daemon stops with exit code 0."""
    daemon = _Daemon(folder, {})
    try:
        if not daemon.ready():
            return Outcome(False, {"error": "daemon not READY", "log": daemon.log()[-500:]})
        good = daemon.cfg_path.read_text()
        daemon.cfg_path.unlink()
        os.mkfifo(daemon.cfg_path)
        t_hup = time.monotonic()
        daemon.proc.send_signal(signal.SIGHUP)
        reloading = daemon.notify.wait_for(t_hup, "RELOADING=1", timeout=10.0) is not None
        time.sleep(3.0)  # the check is stuck on the file, three times the gate's heartbeat timeout
        pings_while_stuck = len(daemon.notify.since(t_hup, "WATCHDOG=1"))
        with open(daemon.cfg_path, "w") as fifo:  # the file turns out to be an alias bomb
            fifo.write(good + hostile.yaml_alias_bomb())
        ready = daemon.notify.wait_for(t_hup, "READY=1")
        log = daemon.log()
        rejected = [line for line in log.splitlines() if "config rejected" in line]
        fail_state = "no heartbeat" in log or "in fail state" in log
        # a second SIGHUP on the hanging file, and SIGTERM while it is checked
        t_hup2 = time.monotonic()
        daemon.proc.send_signal(signal.SIGHUP)
        reloading2 = daemon.notify.wait_for(t_hup2, "RELOADING=1", timeout=10.0) is not None
        t_term = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = daemon.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            code = None
        stop_s = round(time.monotonic() - t_term, 2)
        observed = {
            "reloading_sent": reloading and reloading2,
            "watchdog_pings_while_check_stuck": pings_while_stuck,
            "ready_after_rejection": ready is not None,
            "rejected": rejected[-1][-160:] if rejected else None,
            "gate_fail_state_during_reload": fail_state,
            "exit_code_after_sigterm": code,
            "stop_s": stop_s,
        }
        ok = (
            reloading
            and reloading2
            and pings_while_stuck >= 2
            and ready is not None
            and bool(rejected)
            and "aliases expand" in rejected[-1]
            and not fail_state
            and code == 0
        )
        return Outcome(ok, observed)
    finally:
        daemon.close()


SCENARIOS: list[Scenario] = [
    Scenario("hostile_images", "hostile", hostile_images),
    Scenario("hostile_configs", "hostile", hostile_configs),
    Scenario("sighup_bad_config", "hostile", sighup_bad_config),
]
