"""The lane's events become the published, versioned payloads: committed to a real outbox and checked
against the JSON Schema files that integrators read."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from edged.app_events import OutboxSink
from edged.events.outbox import Outbox
from edged.events.schema_files import load_schema
from edged.events.stream import EventStream


def published(tmp_path: Path, events: list[tuple[str, dict[str, object]]]) -> tuple[list[dict], OutboxSink]:
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    sink = OutboxSink(EventStream("unit-1", outbox))
    for kind, payload in events:
        sink.publish(kind, payload)
    rows = outbox.pending(0, 100)
    outbox.close()
    bodies = [json.loads(r.payload) for r in rows]
    for body in bodies:
        jsonschema.validate(body, load_schema(body["type"]))
    return bodies, sink


def test_passages_alarms_and_status(tmp_path: Path) -> None:
    granted = {
        "lane": "lane-1",
        "person_id": "alice",
        "name": "Alice",
        "reasons": [],
        "similarity": 0.61,
        "liveness": 0.97,
        "temperature_c": 36.7,
        "latency_ms": 41.5,
        "direction": "in",
    }
    denied = {
        "lane": "lane-1",
        "person_id": None,
        "reasons": ["unknown", "fever", "identity_pending"],
        "similarity": 0.12,
        "liveness": 0.9,
        "temperature_c": 38.6,
        "latency_ms": 90.0,
    }
    bodies, sink = published(
        tmp_path,
        [
            ("passage.granted", granted),
            ("passage.denied", denied),
            ("passage.passed", {"lane": "lane-1", "person_id": "alice"}),  # local bookkeeping: not published
            ("alarm.tailgating", {"lane": "lane-1", "direction": "in"}),
            ("gate.link_down", {"lane": "lane-1", "detail": "port gone"}),
            ("camera.status", {"lane": "lane-1", "camera": "rgb", "state": "offline", "reason": "stalled"}),
            ("config.rejected", {"lane": "lane-1", "errors": ["edged.yaml:3: unknown key 'x'"]}),
        ],
    )
    kinds = [(b["type"], b.get("decision") or b.get("alarm") or b.get("health")) for b in bodies]
    assert kinds == [
        ("passage", "granted"),
        ("passage", "denied"),
        ("alarm", "tailgating"),
        ("alarm", "gate_fault"),
        ("status", "failing"),
        ("status", "failing"),
    ]
    g, d = bodies[0], bodies[1]
    assert g["identity"] == {"person_id": "alice", "display_name": "Alice"} and g["granted_by"] == "face"
    assert g["temperature"]["celsius"] == 36.7 and g["temperature"]["fever"] is False
    assert d["reasons"] == ["unknown", "fever"]  # internal 'pending' notes never leave the unit
    assert d["temperature"]["fever"] is True and d["identity"] is None
    assert bodies[4]["components"]["camera.rgb"] == "offline: stalled"
    assert bodies[5]["components"]["config"].startswith("rejected: edged.yaml:3")
    assert [b["seq"] for b in bodies] == list(range(1, 7))
    assert sink.unmapped == {"passage.passed": 1}


def test_passage_says_which_path_matched_against_which_threshold_and_the_mask(tmp_path: Path) -> None:
    masked = {
        "lane": "lane-1",
        "person_id": "alice",
        "reasons": [],
        "similarity": 0.34,
        "masked_match": True,
        "match_threshold": 0.32,
        "mask_state": "mask",
        "mask_score": 0.97,
    }
    plain = masked | {"masked_match": False, "match_threshold": 0.36, "similarity": 0.61}
    plain["mask_state"] = "no_mask"
    unmatched = {"lane": "lane-1", "person_id": None, "reasons": ["unknown"], "similarity": None}
    bodies, _ = published(
        tmp_path,
        [("passage.granted", masked), ("passage.granted", plain), ("passage.denied", unmatched)],
    )
    m, p, u = bodies
    assert (m["match_path"], m["threshold"], m["score"]) == ("masked", 0.32, 0.34)
    assert m["mask"] == {"state": "correct", "score": 0.97}
    assert (p["match_path"], p["threshold"]) == ("plain", 0.36) and p["mask"]["state"] == "none"
    assert u["match_path"] is None and u["threshold"] is None and u["mask"] is None
    assert all(b["v"] == 3 for b in bodies)
