from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from edged.identity.records import Person, RecordError, check_person_id

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def make(**extra: object) -> Person:
    fields: dict[str, object] = {
        "person_id": "E1",
        "name": "Ana",
        "consent_at": NOW,
        "consent_source": "form",
    }
    fields.update(extra)
    return Person(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("pid", ["", "-lead", "a" * 65, "has space", "semi;colon", "ümlaut"])
def test_bad_person_ids_are_refused(pid: str) -> None:
    with pytest.raises(RecordError, match="person id"):
        check_person_id(pid)


@pytest.mark.parametrize("pid", ["E1001", "ana.lima@site", "card:4711", "a" * 64])
def test_good_person_ids_pass(pid: str) -> None:
    assert check_person_id(pid) == pid


def test_validity_window_is_half_open_and_zone_aware() -> None:
    p = make(valid_from=NOW, valid_until=NOW + timedelta(days=1))
    assert not p.valid_at(NOW - timedelta(seconds=1))
    assert p.valid_at(NOW)
    assert p.valid_at(NOW.astimezone(timezone(timedelta(hours=5))) + timedelta(hours=23))
    assert not p.valid_at(NOW + timedelta(days=1))
    assert make().valid_at(NOW)
    with pytest.raises(RecordError, match="not after"):
        make(valid_from=NOW, valid_until=NOW)


def test_groups_limit_lanes_only_when_given() -> None:
    assert make().may_pass("lane-9")
    p = make(groups=("lane-1",))
    assert p.may_pass("lane-1") and not p.may_pass("lane-2")


def test_name_and_consent_are_required() -> None:
    with pytest.raises(RecordError, match="empty name"):
        make(name="  ")
    with pytest.raises(RecordError, match="consent"):
        make(consent_source="")
