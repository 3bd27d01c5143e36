from __future__ import annotations

from edged.decide.passage import Action, PassageMachine, State


def kinds(actions: list[Action]) -> list[str]:
    return [a.event or a.kind for a in actions]


def test_grant_then_passage_closes_and_returns_to_idle() -> None:
    m = PassageMachine(grant_timeout_s=5.0, denied_hold_s=1.0)
    m.deciding(1, 0.0)
    assert m.state is State.DECIDING
    assert kinds(m.granted(1, "alice", 0.5, {})) == ["open", "passage.granted"]
    assert m.state is State.GRANTED
    assert kinds(m.passage(2.0)) == ["passage.passed", "close"]
    assert m.state is State.PASSED
    m.tick(2.5)
    assert m.state is State.PASSED
    m.tick(3.1)
    assert m.state is State.IDLE


def test_unused_grant_times_out_and_closes() -> None:
    m = PassageMachine(grant_timeout_s=5.0, denied_hold_s=1.0)
    m.granted(1, "alice", 0.0, {})
    assert m.tick(4.9) == []
    assert kinds(m.tick(5.0)) == ["close", "passage.timeout"]
    assert m.state is State.TIMED_OUT


def test_second_passage_on_one_grant_is_tailgating() -> None:
    m = PassageMachine(grant_timeout_s=5.0, denied_hold_s=1.0)
    m.granted(1, "alice", 0.0, {})
    m.passage(1.0)
    actions = m.passage(1.4)
    assert kinds(actions) == ["alarm.tailgating"]
    assert actions[0].data["person_id"] == "alice"


def test_passage_without_any_grant_is_forced() -> None:
    m = PassageMachine(grant_timeout_s=5.0, denied_hold_s=1.0)
    assert kinds(m.passage(0.0)) == ["alarm.forced_passage"]


def test_denied_is_shown_then_idle_and_keeps_an_open_grant() -> None:
    m = PassageMachine(grant_timeout_s=5.0, denied_hold_s=1.0)
    m.deciding(2, 0.0)
    assert kinds(m.denied(2, None, 0.1, {"reasons": ["unknown"]})) == ["passage.denied"]
    assert m.state is State.DENIED
    m.tick(1.2)
    assert m.state is State.IDLE
    m.granted(1, "alice", 2.0, {})
    m.denied(3, None, 2.1, {})
    assert m.state is State.GRANTED  # the person behind is denied; the grant stays for alice only
    assert m.grant is not None and m.grant.track_id == 1


def test_two_grants_in_a_row_give_one_passage_each() -> None:
    m = PassageMachine(grant_timeout_s=5.0, denied_hold_s=1.0)
    assert kinds(m.granted(1, "a", 0.0, {})) == ["open", "passage.granted"]
    assert kinds(m.granted(2, "b", 0.2, {})) == ["passage.granted", "passage.queued"]
    assert kinds(m.passage(1.0)) == ["passage.passed"]  # gate stays open for b
    assert kinds(m.passage(2.0)) == ["passage.passed", "close"]


def test_reset_closes_an_open_grant() -> None:
    m = PassageMachine(grant_timeout_s=5.0, denied_hold_s=1.0)
    m.granted(1, "a", 0.0, {})
    assert kinds(m.reset(0.5)) == ["close"]
    assert m.state is State.IDLE and m.grant is None
    assert m.reset(0.6) == []


def test_forget_a_person_who_left_undecided() -> None:
    m = PassageMachine(grant_timeout_s=5.0, denied_hold_s=1.0)
    m.deciding(1, 0.0)
    m.deciding(2, 0.0)
    m.forget(1, 0.5)
    assert m.state is State.DECIDING
    m.forget(2, 0.6)
    assert m.state is State.IDLE
