from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from edged.events.ids import IdGenerator
from edged.events.outbox import Outbox
from edged.events.payloads import (
    SCHEMA_VERSION,
    AlarmBody,
    GalleryBody,
    Identity,
    Liveness,
    MaskResult,
    PassageBody,
    StatusBody,
    StatusEvent,
    Temperature,
    utc_now,
)
from edged.events.schema_files import generate, load_schema, stale
from edged.events.stream import EventStream


def test_schema_files_in_the_repo_match_the_models() -> None:
    assert stale() == [], "run: edged events schemas --write"


def test_schemas_are_valid_json_schema() -> None:
    for schema in generate().values():
        jsonschema.Draft202012Validator.check_schema(schema)


SAMPLES = [
    PassageBody(
        decision="denied",
        reasons=["no_mask", "fever"],
        identity=Identity(person_id="p-17", display_name="Ada"),
        score=0.71,
        mask=MaskResult(state="none", score=0.93),
        temperature=Temperature(celsius=38.4, site="inner_canthus", fever=True),
        liveness=Liveness(live=True, score=0.98),
        lane="lane-2",
        direction="out",
        latency_ms={"detect": 9.5, "embed": 4.1, "total": 31.0},
    ),
    PassageBody(decision="granted", granted_by="remote", lane="lane-1"),
    AlarmBody(alarm="tailgating", lane="lane-1", detail="two people in one passage"),
    StatusBody(
        health="ok", gate_state="closed", fps={"rgb": 29.8}, temperatures_c={"soc": 51.0}, gallery_size=3
    ),
    GalleryBody(action="erased", person_id="p-17", source="command", command_nonce="ab" * 16),
]


@pytest.mark.parametrize("body", SAMPLES, ids=lambda b: type(b).__name__)
def test_emitted_events_validate_against_their_schema(tmp_path: Path, body: object) -> None:
    stream = EventStream("gate-1", Outbox(tmp_path / "o.db"))
    event = stream.emit(body)  # type: ignore[arg-type]
    row = stream.outbox.pending(0, 1)[0]
    payload = json.loads(row.payload)
    jsonschema.validate(payload, load_schema(payload["type"]))
    assert payload["v"] == SCHEMA_VERSION and payload["device_id"] == "gate-1"
    assert payload["seq"] == event.seq == 1
    assert payload["id"] == row.id and payload["ts"].endswith("Z")
    assert row.topic == f"events/{payload['type']}"


def test_snapshot_is_a_separate_expiring_message(tmp_path: Path) -> None:
    stream = EventStream("gate-1", Outbox(tmp_path / "o.db"))
    passage = stream.emit(PassageBody(decision="granted", lane="l", snapshot=True))
    snap = stream.snapshot(passage.id, "/9j/AAAA", retention_s=600)
    row = stream.outbox.pending(passage.seq, 1)[0]
    assert row.topic == "snapshot" and row.expiry_s == 600
    payload = json.loads(row.payload)
    jsonschema.validate(payload, load_schema("snapshot"))
    assert payload["event_id"] == passage.id and snap.seq == passage.seq + 1
    assert "image_b64" not in json.loads(stream.outbox.pending(0, 1)[0].payload)


def test_schema_rejects_what_the_models_reject() -> None:
    schema = load_schema("passage")
    good = json.loads(PassageBody(decision="granted", lane="l").model_dump_json()) | {
        "type": "passage",
        "v": SCHEMA_VERSION,
        "id": IdGenerator().new(),
        "device_id": "d",
        "seq": 1,
        "ts": "2026-01-01T00:00:00Z",
    }
    jsonschema.validate(good, schema)
    for broken in ({"reasons": ["bad_hair_day"]}, {"seq": 0}, {"face_image": "..."}, {"decision": "maybe"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(good | broken, schema)
    with pytest.raises(ValidationError):
        PassageBody(decision="granted", lane="l", reasons=["bad_hair_day"])  # type: ignore[list-item]


def test_ids_are_unique_and_sort_in_creation_order() -> None:
    gen = IdGenerator()
    now = utc_now().timestamp()
    ids = [gen.new(now) for _ in range(500)] + [gen.new(now + 0.002)] + [gen.new(now - 5)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_an_overflowing_outbox_keeps_one_loss_report_with_every_count(tmp_path: Path) -> None:
    stream = EventStream("gate-1", Outbox(tmp_path / "o.db", max_events=100))
    for _ in range(100):
        stream.emit(StatusBody(health="ok"))
    for _ in range(20):
        stream.emit(PassageBody(decision="granted", lane="l"))
    rows = stream.outbox.pending(0, 1000)
    alarms = [json.loads(r.payload) for r in rows if r.type == "alarm"]
    assert len(alarms) == 1 and alarms[0]["alarm"] == "outbox_overflow"
    # 20 statuses pushed out by the passages; 19 earlier reports replaced by the last one
    assert alarms[0]["dropped"] == {"status": 20, "loss_report": 19}
    assert sum(1 for r in rows if r.type == "passage") == 20
    assert stream.outbox.dropped() == alarms[0]["dropped"]


def test_the_loss_report_outranks_the_alarms_it_reports(tmp_path: Path) -> None:
    """Only alarms, all of one priority, far more than fit: the report of their loss survives them."""
    stream = EventStream("gate-1", Outbox(tmp_path / "o.db", max_events=100))
    for _ in range(250):
        stream.emit(AlarmBody(alarm="tailgating", lane="l"))
    rows = stream.outbox.pending(0, 1000)
    reports = [json.loads(r.payload) for r in rows if b"outbox_overflow" in r.payload]
    assert len(reports) == 1 and len(rows) == 101
    last = max(r.seq for r in rows)
    missing = last - len(rows)  # every sequence number that will never arrive
    assert sum(reports[0]["dropped"].values()) == missing
    assert reports[0]["dropped"]["alarm"] == 150


def test_service_fills_outbox_figures_and_honours_switches(tmp_path: Path) -> None:
    from edged.events.config import MqttConfig
    from edged.events.service import EventsService

    off = EventsService(MqttConfig(), "g", None)
    assert off.emit(PassageBody(decision="granted", lane="l")) is None and off.outbox is None
    config = MqttConfig.model_validate({"enabled": True, "outbox": {"path": str(tmp_path / "o.db")}})
    service = EventsService(config, "g", None)  # not started: the broker is never contacted
    passage = service.emit(PassageBody(decision="granted", lane="l"))
    assert passage is not None
    assert service.snapshot(passage.id, "AAAA") is None  # snapshots are opt-in
    status = service.emit_status(StatusBody(health="ok"))
    assert isinstance(status, StatusEvent) and status.outbox_pending == 1
    service.stop(drain_s=0)
