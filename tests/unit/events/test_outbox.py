from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edged.events.outbox import PRIORITY, Outbox, OutboxError


def _add(outbox: Outbox, type_: str, now: float | None = None, expiry_s: int | None = None) -> int:
    seq, _ = outbox.append(
        type_, f"events/{type_}", lambda s: (f"id{s}", f'{{"seq": {s}}}'.encode()), expiry_s, now
    )
    return seq


def test_messages_come_back_in_order_until_acknowledged(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    seqs = [_add(outbox, t) for t in ("passage", "status", "alarm", "gallery")]
    assert seqs == [1, 2, 3, 4]
    assert [r.seq for r in outbox.pending(0, 10)] == seqs
    assert [r.seq for r in outbox.pending(2, 10)] == [3, 4]
    outbox.ack([1, 3, 99])
    assert [r.seq for r in outbox.pending(0, 10)] == [2, 4] and len(outbox) == 2
    assert outbox.pending(0, 1)[0].payload == b'{"seq": 2}'


def test_sequence_and_pending_messages_survive_a_reopen(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    for _ in range(3):
        _add(outbox, "passage")
    outbox.ack([1])
    outbox.close()
    again = Outbox(tmp_path / "o.db")
    assert len(again) == 2 and again.last_seq == 3
    assert _add(again, "alarm") == 4


def test_a_failed_build_commits_nothing(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")

    def broken(_seq: int) -> tuple[str, bytes]:
        raise ValueError("bad payload")

    with pytest.raises(ValueError):
        outbox.append("passage", "events/passage", broken)
    assert len(outbox) == 0 and outbox.last_seq == 0
    assert _add(outbox, "passage") == 1


def test_unknown_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutboxError, match="unknown message type"):
        Outbox(tmp_path / "o.db").append("selfie", "x", lambda s: ("i", b""))


def test_unopenable_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OutboxError, match="cannot open outbox"):
        Outbox(tmp_path / "file" / "o.db")


def test_full_outbox_drops_status_before_passages_and_counts_it(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", max_events=4)
    _add(outbox, "passage")
    _add(outbox, "status")
    _add(outbox, "alarm")
    _add(outbox, "status")
    _, drops = outbox.append("passage", "events/passage", lambda s: (f"id{s}", b"{}"))
    assert drops == {"status": 1}
    assert [r.type for r in outbox.pending(0, 10)] == ["passage", "alarm", "status", "passage"]
    _add(outbox, "alarm")
    _, drops = outbox.append("passage", "events/passage", lambda s: (f"id{s}", b"{}"))
    assert drops == {"passage": 1}  # no status left: the oldest passage goes
    assert outbox.dropped() == {"status": 2, "passage": 1}
    assert [r.seq for r in outbox.pending(0, 10)] == [3, 5, 6, 7]


def test_old_messages_and_expired_snapshots_are_dropped(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db", max_age_s=100)
    _add(outbox, "passage", now=1000.0)
    _add(outbox, "snapshot", now=1050.0, expiry_s=20)
    _add(outbox, "passage", now=1060.0)
    _, drops = outbox.append("alarm", "events/alarm", lambda s: (f"id{s}", b"{}"), now=1101.0)
    assert drops == {"passage": 1, "snapshot": 1}
    assert [r.seq for r in outbox.pending(0, 10)] == [3, 4]


def test_nonces_are_remembered_until_they_expire(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    assert outbox.remember_nonce("k:n1", expires=100.0, now=50.0)
    assert not outbox.remember_nonce("k:n1", expires=100.0, now=60.0)
    outbox.close()
    again = Outbox(tmp_path / "o.db")
    assert not again.remember_nonce("k:n1", expires=100.0, now=99.0)  # survives a restart
    assert again.remember_nonce("k:n1", expires=200.0, now=101.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(sorted(PRIORITY)), min_size=1, max_size=60), st.integers(3, 20))
def test_the_bound_holds_and_higher_priority_outlives_lower(types: list[str], limit: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        outbox = Outbox(Path(tmp) / "o.db", max_events=limit, synchronous="normal")
        for t in types:
            _add(outbox, t)
            assert len(outbox) <= limit
        kept = outbox.pending(0, 1000)
        kept_seqs = {r.seq for r in kept}
        dropped = [(seq, t) for seq, t in enumerate(types, 1) if seq not in kept_seqs]
        assert sum(outbox.dropped().values()) == len(dropped)
        lowest_kept = min(PRIORITY[r.type] for r in kept)
        # Nothing of a higher priority was dropped while a lower one is still kept.
        assert all(PRIORITY[t] <= lowest_kept for _, t in dropped)
        outbox.close()


def test_a_failed_write_leaves_a_gap_a_count_and_a_failure(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    heard: list[str | None] = []
    outbox.add_health_listener(heard.append)
    assert _add(outbox, "passage") == 1
    outbox._db.execute("PRAGMA query_only=ON")  # SQLite refuses every write, as on a read-only disk
    for _ in range(2):
        with pytest.raises(OutboxError, match="cannot record a passage"):
            _add(outbox, "passage")
    assert outbox.reserve_seq() == 4  # e.g. an alarm sent straight to the broker
    assert outbox.failure is not None and heard == [outbox.failure]
    assert outbox.probe()  # a fresh connection (as after a remount) can write again
    assert _add(outbox, "alarm") == 5  # seqs 2-4 are a visible gap
    assert heard[-1] is None and outbox.failure is None
    assert outbox.dropped() == {"passage": 2}  # the two that were never written, counted
    outbox.close()
    assert Outbox(tmp_path / "o.db").last_seq == 5


def test_erase_scrub_rewrites_waiting_messages_and_leaves_no_copy(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    outbox.append(
        "passage", "p", lambda s: (f"id{s}", b'{"identity":{"person_id":"p-77","display_name":"Ann Zed"}}')
    )
    outbox.append("alarm", "a", lambda s: (f"id{s}", b'{"detail":"person_id=p-77, track_id=3"}'))
    outbox.append("passage", "p", lambda s: (f"id{s}", b'{"identity":null}'))
    outbox.ack([1])  # delivered: deleted, but its bytes may linger in free pages and the WAL
    assert outbox.scrub(["p-77", "Ann Zed"]) == 1
    assert [r.payload for r in outbox.pending(0, 10)] == [
        b'{"detail":"person_id=[erased], track_id=3"}',
        b'{"identity":null}',
    ]
    for f in tmp_path.iterdir():
        data = f.read_bytes()
        assert b"p-77" not in data and b"Ann Zed" not in data, f.name


def test_nonces_are_remembered_in_memory_while_the_file_cannot_be_written(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    assert outbox.remember_nonce("k:old", 100.0, 0.0)
    outbox._db.execute("PRAGMA query_only=ON")  # SQLite refuses every write
    assert outbox.remember_nonce("k:new", 100.0, 0.0)  # a command can still be verified
    assert not outbox.remember_nonce("k:new", 100.0, 1.0)  # and its replay is still caught
    assert not outbox.remember_nonce("k:old", 100.0, 1.0)
    assert outbox.failure is not None


def test_a_loss_report_on_its_way_is_not_replaced(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")

    def report() -> int:
        seq, _ = outbox.append("alarm", "a", lambda s: (f"id{s}", b"{}"), loss_report=True)
        return seq

    first = report()
    second = report()  # the first was still waiting: replaced and counted
    assert [r.seq for r in outbox.pending(0, 10)] == [second]  # handed to the publisher now
    third = report()
    assert [r.seq for r in outbox.pending(0, 10)] == [second, third]
    assert outbox.dropped() == {"loss_report": 1} and first not in (second, third)
