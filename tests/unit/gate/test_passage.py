from __future__ import annotations

from edged.gate.passage import PassageGuard


def test_one_grant_one_passage() -> None:
    guard = PassageGuard(passage_timeout_s=8.0)
    gid = guard.grant("in", pulse_s=1.0, now=0.0)
    event = guard.passage("in", "normal", now=0.6)
    assert (event.kind, event.direction, event.grant_id) == ("entered", "in", gid)
    assert guard.pending == 0


def test_second_passage_before_relock_is_tailgating() -> None:
    guard = PassageGuard(passage_timeout_s=8.0, settle_s=0.5)
    gid = guard.grant("in", pulse_s=1.0, now=0.0)
    guard.passage("in", "normal", now=0.6)
    event = guard.passage("in", "normal", now=1.2)
    assert (event.kind, event.grant_id) == ("tailgating", gid)


def test_passage_after_relock_without_grant_is_forced() -> None:
    guard = PassageGuard(passage_timeout_s=8.0, settle_s=0.5)
    guard.grant("in", pulse_s=1.0, now=0.0)
    guard.passage("in", "normal", now=0.6)
    assert guard.passage("in", "normal", now=2.0).kind == "forced"


def test_passage_the_wrong_way_does_not_use_the_grant() -> None:
    guard = PassageGuard(passage_timeout_s=8.0)
    guard.grant("in", pulse_s=1.0, now=0.0)
    assert guard.passage("out", "normal", now=0.5).kind == "forced"
    assert guard.passage("in", "normal", now=0.7).kind == "entered"


def test_two_grants_admit_two_people_in_order() -> None:
    guard = PassageGuard(passage_timeout_s=8.0)
    first = guard.grant("out", pulse_s=1.0, now=0.0)
    second = guard.grant("out", pulse_s=1.0, now=0.2)
    assert guard.passage("out", "normal", now=0.5).grant_id == first
    assert guard.passage("out", "normal", now=0.9).grant_id == second
    assert guard.passage("out", "normal", now=1.0).kind == "tailgating"


def test_unused_grant_times_out_once() -> None:
    guard = PassageGuard(passage_timeout_s=5.0)
    gid = guard.grant("in", pulse_s=1.0, now=0.0)
    assert guard.expire(now=4.9) == []
    events = guard.expire(now=5.0)
    assert [(e.kind, e.grant_id) for e in events] == [("timeout", gid)]
    assert guard.expire(now=6.0) == []
    assert guard.passage("in", "normal", now=6.5).kind == "forced"


def test_free_passage_needs_no_grant() -> None:
    guard = PassageGuard(passage_timeout_s=5.0)
    assert guard.passage("in", "free_passage", now=1.0).kind == "passage"


def test_cancel_all_forgets_pending_grants() -> None:
    guard = PassageGuard(passage_timeout_s=5.0)
    ids = [guard.grant("in", 1.0, 0.0), guard.grant("out", 1.0, 0.0)]
    assert guard.cancel_all() == ids
    assert guard.passage("in", "normal", now=0.5).kind == "forced"
