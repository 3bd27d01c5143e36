"""``edged bench e2e``: replay a clip at its real frame rate through the whole daemon and measure it."""

from __future__ import annotations

import collections
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from edged.app import Daemon
from edged.app_broker import LocalBroker
from edged.capture.config import FileSourceConfig
from edged.config.schema import EdgedConfig
from edged.gate.config import SimulatorGateConfig

SETTLE_S = 0.5  # after the clip: let the simulated passages and their events arrive
DRAIN_S = 5.0  # then give the MQTT link this long to deliver what is in the outbox


class ResourceSampler:
    """Process CPU (percent of one core) and peak resident memory while the run lasts."""

    def __init__(self, period_s: float = 0.25) -> None:
        self.proc = psutil.Process()
        self.period_s = period_s
        self.peak_rss = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._cpu0 = 0.0
        self._t0 = 0.0
        self.cpu_percent = 0.0

    def _cpu(self) -> float:
        t = self.proc.cpu_times()
        return float(t.user + t.system)

    def start(self) -> None:
        self._cpu0, self._t0 = self._cpu(), time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.peak_rss = max(self.peak_rss, self.proc.memory_info().rss)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        wall = max(time.monotonic() - self._t0, 1e-6)
        self.cpu_percent = 100.0 * (self._cpu() - self._cpu0) / wall
        self.peak_rss = max(self.peak_rss, self.proc.memory_info().rss)


def local_peers(cfg: EdgedConfig, broker: LocalBroker, workdir: Path) -> EdgedConfig:
    """``cfg`` with the gate simulator (unless it is one) and MQTT to ``broker``, outbox in ``workdir``."""
    mqtt = cfg.mqtt.model_copy(
        update={
            "enabled": True,
            "host": broker.host,
            "port": broker.port,
            "outbox": cfg.mqtt.outbox.model_copy(update={"path": workdir / "outbox.sqlite3"}),
        }
    )
    gate = cfg.gate if isinstance(cfg.gate, SimulatorGateConfig) else SimulatorGateConfig.model_validate({})
    return cfg.model_copy(update={"mqtt": mqtt, "gate": gate})


def run_e2e(
    cfg: EdgedConfig,
    video: Path,
    *,
    config_path: Path | None = None,
    realtime: bool = True,
    on_event: Any = None,
    max_s: float = 600.0,
    with_peers: bool = True,
) -> dict[str, Any]:
    """Run the daemon on ``video`` until the clip ends; returns the benchmark report.

    ``with_peers``: start a private mosquitto and use the gate simulator, as the benchmark always does;
    the demo passes False because it starts its own."""
    if not with_peers:
        return _run(cfg, video, config_path, realtime, on_event, max_s)
    with tempfile.TemporaryDirectory(prefix="edged-bench-") as tmp, LocalBroker() as broker:
        return _run(local_peers(cfg, broker, Path(tmp)), video, config_path, realtime, on_event, max_s)


def _run(
    cfg: EdgedConfig, video: Path, config_path: Path | None, realtime: bool, on_event: Any, max_s: float
) -> dict[str, Any]:
    rgb = FileSourceConfig(path=video, realtime=realtime)
    events: collections.Counter[str] = collections.Counter()

    def count(kind: str, payload: dict[str, Any]) -> None:
        events[kind] += 1
        if on_event is not None:
            on_event(kind, payload)

    daemon = Daemon(cfg, config_path, rgb=rgb, on_event=count)
    sampler = ResourceSampler()
    daemon.start()
    sampler.start()
    t0 = time.monotonic()
    try:
        result = daemon.run(until_ended=True, max_s=max_s)
        wall = time.monotonic() - t0
        assert daemon.lane is not None and daemon.capture is not None and daemon.wiring is not None
        end = time.monotonic() + _settle_s(cfg)
        while time.monotonic() < end:
            daemon.lane.tick()
            time.sleep(0.05)
        if daemon.wiring.mqtt is not None and daemon.wiring.mqtt.connected.is_set():
            daemon.wiring.mqtt.outbox.wait_until_empty(DRAIN_S)
        sampler.stop()
        lane, capture = daemon.lane, daemon.capture
        stages = daemon.latency.summary()
        decision = stages.pop("decision", {"n": 0})
        delivered = capture.delivered
        report: dict[str, Any] = {
            "video": str(video),
            "fps": round(getattr(capture.source, "fps", 0.0), 2),
            "realtime": realtime,
            "frames": delivered,
            "processed": lane.frames,
            "dropped": delivered - lane.frames,
            "ended": result.ended,
            "wall_s": round(wall, 2),
            "decision_latency_ms": decision,
            "stages": stages,
            "cpu_percent": round(sampler.cpu_percent, 1),
            "rss_mb": round(sampler.peak_rss / 2**20, 1),
            "passages": [p.to_json() for p in lane.passages],
            "events": dict(sorted(events.items())),
            "gate": _gate_summary(daemon),
            "mqtt": _mqtt_summary(daemon),
        }
        return report
    finally:
        if sampler._thread.is_alive():
            sampler.stop()
        daemon.stop()


def _settle_s(cfg: EdgedConfig) -> float:
    delay = float(getattr(cfg.gate, "passage_delay_s", 0.0) or 0.0)
    return delay + SETTLE_S


def _mqtt_summary(daemon: Daemon) -> dict[str, Any]:
    assert daemon.wiring is not None
    link = daemon.wiring.mqtt
    if link is None:
        return {"enabled": False}
    c = link.counters
    return {
        "enabled": True,
        "connected": link.connected.is_set(),
        "published": c.published,
        "acknowledged": c.acknowledged,
        "outbox_pending": len(link.outbox),
    }


def _gate_summary(daemon: Daemon) -> dict[str, Any]:
    assert daemon.wiring is not None
    h = daemon.wiring.gate.health()
    return {"driver": h.driver, "mode": h.mode, "ok": h.ok, "errors": h.errors}
