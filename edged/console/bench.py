"""``edged bench console``: the decision latency of ``edged bench e2e`` on the demo's clip, with the
console's live page being watched and without the console, in alternating runs.

The viewer makes the requests the Live page makes (the frame's state, then its JPEG, every 0.5 s) over
HTTPS from this process; a browser on the operator's own computer adds nothing more on the gate."""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import urllib.request
from pathlib import Path
from typing import Any

from edged.config.secrets import SecretRef
from edged.console.config import ConsoleConfig
from edged.console.passwords import hash_password
from edged.health.metrics import percentiles

POLL_S = 0.5  # the Live page's refresh period (console.js)


class Viewer:
    """Logs in as soon as the console answers, then fetches the live state and frame like the page."""

    def __init__(self, url: str, password: str, ca: Path) -> None:
        self.url = url
        self.password = password
        self.context = ssl.create_default_context(cafile=str(ca))
        self.frames = 0
        self.bytes = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-viewer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _open(self, path: str, cookie: str = "", body: bytes | None = None) -> Any:
        req = urllib.request.Request(self.url + path, data=body, method="POST" if body else "GET")
        if body:
            req.add_header("Content-Type", "application/json")
        if cookie:
            req.add_header("Cookie", cookie)
        return urllib.request.urlopen(req, timeout=10, context=self.context)

    def _run(self) -> None:
        cookie = ""
        while not cookie and not self._stop.wait(0.2):
            try:
                with self._open("/api/login", body=json.dumps({"password": self.password}).encode()) as r:
                    cookie = r.headers["Set-Cookie"].split(";")[0]
            except OSError:
                continue  # not listening yet
        while not self._stop.wait(POLL_S):
            try:
                with self._open("/api/live/state", cookie) as r:
                    seq = json.loads(r.read())["frame"]
                with self._open(f"/api/live.jpg?frame={seq}", cookie) as r:
                    self.bytes += len(r.read())
                    self.frames += 1
            except OSError:
                self.errors += 1


def run_console_bench(workdir: Path, pairs: int = 3, say: Any = print) -> dict[str, Any]:
    from edged.app_bench import run_e2e
    from edged.app_demo import prepare_samples
    from edged.app_demo_setup import build_demo
    from edged.mqtt.localbroker import free_port, make_certificates

    setup = build_demo(workdir, prepare_samples(), say=lambda _t: None)
    try:
        password = secrets.token_urlsafe(18)
        (workdir / "console-password").write_text(hash_password(password) + "\n")
        certs = make_certificates(workdir)
        port = free_port()
        console = ConsoleConfig(
            enabled=True,
            port=port,
            tls_cert=certs.server_cert,
            tls_key=SecretRef(file=certs.server_key),
            password_hash=SecretRef(file=workdir / "console-password"),
        )
        watched = setup.cfg.model_copy(update={"console": console})
        latencies: dict[str, list[float]] = {"without console": [], "live page open": []}
        frame_ms: dict[str, list[float]] = {k: [] for k in latencies}
        dropped: dict[str, int] = dict.fromkeys(latencies, 0)
        viewed = {"frames": 0, "bytes": 0, "errors": 0}
        for n in range(pairs):
            for label, cfg in (("without console", setup.cfg), ("live page open", watched)):
                viewer = Viewer(f"https://127.0.0.1:{port}", password, certs.ca) if cfg is watched else None
                if viewer is not None:
                    viewer.start()
                try:
                    report = run_e2e(cfg, setup.video, with_peers=False)
                finally:
                    if viewer is not None:
                        viewer.stop()
                        viewed["frames"] += viewer.frames
                        viewed["bytes"] += viewer.bytes
                        viewed["errors"] += viewer.errors
                got = [p["latency_ms"] for p in report["passages"] if p["latency_ms"] is not None]
                latencies[label] += got
                frame_ms[label].append(float(report["stages"].get("frame", {}).get("p50", 0.0)))
                dropped[label] += int(report["dropped"])
                say(f"run {n + 1}/{pairs} {label}: {len(got)} decisions, frames dropped {report['dropped']}")
    finally:
        setup.close()
    return {
        "pairs": pairs,
        "decision_latency_ms": {k: percentiles(v) for k, v in latencies.items()},
        "frame_ms_p50_per_run": frame_ms,
        "frames_dropped": dropped,
        "live_frames_fetched": viewed["frames"],
        "live_kib_fetched": round(viewed["bytes"] / 1024, 1),
        "viewer_errors": viewed["errors"],
    }
