"""Settings that `edged run` once ignored, checked on a daemon built and started from a config file by
its own construction path: `mqtt.outbox.synchronous` on the outbox's SQLite connection, and
`thermal.fever` (absolute and relative) as the fever rule of the policy the lane runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from edged.app import Daemon
from edged.app_broker import LocalBroker
from edged.config.loader import ConfigError
from edged.config.schema import load_config
from edged.decide.policy import Evidence, PolicyEngine
from tests.integration.app.conftest import write_clip

SQLITE_SYNCHRONOUS = {1: "normal", 2: "full"}  # PRAGMA synchronous answers with a number


@pytest.fixture()
def broker() -> Iterator[LocalBroker]:
    with LocalBroker() as b:
        yield b


def _started(tmp: Path, models_dir: Path, broker: LocalBroker, **sections: Any) -> Daemon:
    doc: dict[str, Any] = {
        "device_id": "settings",
        "models": {"dir": str(models_dir)},
        "cameras": {"rgb": {"type": "file", "path": str(write_clip(tmp / "cam.avi")), "loop": True}},
        "policy": {"mode": "screening", "temperature": {"rule": "hard", "min_samples": 3}},
        "mqtt": {"enabled": True, "host": broker.host, "port": broker.port, "outbox": {}},
    }
    for name, section in sections.items():
        doc[name] = {**doc.get(name, {}), **section}
    doc["mqtt"]["outbox"].setdefault("path", str(tmp / "outbox.sqlite3"))
    path = tmp / "edged.yaml"
    path.write_text(yaml.safe_dump(doc))
    daemon = Daemon(load_config(path), path)
    daemon.start()
    return daemon


def _outbox_synchronous(daemon: Daemon) -> str:
    assert daemon.wiring is not None and daemon.wiring.mqtt is not None
    (value,) = daemon.wiring.mqtt.outbox._db.execute("PRAGMA synchronous").fetchone()
    return SQLITE_SYNCHRONOUS[value]


def _person(policy: PolicyEngine, *temperatures_c: float) -> tuple[str, tuple[str, ...]]:
    ev = Evidence(lane="lane-1", now=datetime.now(timezone.utc), temperatures_c=list(temperatures_c))
    v = policy.decide(ev)
    return v.decision, v.reasons


def test_relative_fever_denies_above_the_recent_people_though_below_the_absolute_threshold(
    tmp_path: Path, models_dir: Path, broker: LocalBroker
) -> None:
    fever = {
        "mode": "relative",
        "threshold_c": 39.0,
        "relative_delta_c": 0.8,
        "relative_window": 10,
        "relative_trim": 1,
        "relative_min_people": 5,
    }
    daemon = _started(
        tmp_path, models_dir, broker, thermal={"fever": fever}, mqtt={"outbox": {"synchronous": "normal"}}
    )
    try:
        assert _outbox_synchronous(daemon) == "normal"
        assert daemon.lane is not None
        policy = daemon.lane.policy
        # before five people were seen the absolute threshold (39.0 °C) decides: 37.2 °C passes
        assert _person(policy, 37.2, 37.2, 37.2) == ("grant", ())
        for t in (36.0, 36.1, 36.2, 36.0, 36.1):
            assert _person(policy, t, t, t) == ("grant", ())
        # trimmed average of 37.2, 36.0, 36.1, 36.2, 36.0, 36.1 is 36.1 °C: the limit is 36.9 °C
        assert _person(policy, 37.2, 37.3, 37.1) == ("deny", ("fever",))
        assert _person(policy, 36.7, 36.8, 36.6) == ("grant", ())
        # a reload (SIGHUP's path) makes a new policy but keeps the window of recent people: a fresh window
        # would fall back to the absolute 39.0 °C and pass 37.4 °C
        assert daemon.reload()
        assert daemon.lane.policy is not policy
        assert _person(daemon.lane.policy, 37.4, 37.4, 37.4) == ("deny", ("fever",))
    finally:
        daemon.stop()


def test_absolute_fever_uses_the_configured_threshold_and_the_outbox_is_full_by_default(
    tmp_path: Path, models_dir: Path, broker: LocalBroker
) -> None:
    daemon = _started(
        tmp_path, models_dir, broker, thermal={"fever": {"mode": "absolute", "threshold_c": 36.8}}
    )
    try:
        assert _outbox_synchronous(daemon) == "full"
        assert daemon.lane is not None
        policy = daemon.lane.policy
        assert _person(policy, 37.0, 37.1, 36.9) == ("deny", ("fever",))
        assert _person(policy, 36.5, 36.6, 36.4) == ("grant", ())
    finally:
        daemon.stop()


def test_the_old_max_c_key_is_refused_with_its_line_and_the_new_key(tmp_path: Path) -> None:
    path = tmp_path / "edged.yaml"
    path.write_text("lane: lane-1\npolicy:\n  mode: screening\n  temperature: {rule: hard, max_c: 38.0}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    (line,) = str(exc.value).splitlines()
    assert line.startswith(f"{path}:4: policy.temperature:") and "thermal.fever.threshold_c" in line
