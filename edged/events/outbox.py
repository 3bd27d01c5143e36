"""Durable outbox: every message is committed to SQLite (WAL) before it is published and removed only
once the broker has acknowledged it. Bounded by count and age; what has to go is counted.

When a write fails (disk full, read-only file system) nothing is committed, but the loss is not silent:
the sequence number it would have had is skipped (subscribers see a gap), the failure is counted by type
and kept in ``failure`` until a write succeeds again, and health listeners hear of both transitions.
A loss report (``loss_report=True``) outranks everything it reports: it is never dropped by the limits,
and a newer one replaces one still waiting, so at most one is pending."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edged.events.config import OutboxConfig

log = logging.getLogger(__name__)

# Lower goes first when the outbox is full: status and snapshots, then gallery receipts, passages and alarms.
PRIORITY = {"status": 0, "snapshot": 0, "gallery": 1, "audit": 1, "passage": 2, "alarm": 2}
LOSS_PRIORITY = 9  # loss reports: never dropped by the limits; the key "loss_report" counts the replaced
ERASED = "[erased]"

AGE_CHECK_INTERVAL_S = 1.0
WAL_CHECKPOINT_PAGES = 256
WAL_LIMIT_BYTES = 1 << 20
_COLUMNS = "seq, id, type, priority, topic, payload, created, expiry_s, expires"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    priority INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL,
    expiry_s INTEGER,
    expires REAL
);
CREATE INDEX IF NOT EXISTS outbox_drop_order ON outbox (priority, seq);
CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created);
CREATE INDEX IF NOT EXISTS outbox_expires ON outbox (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires REAL NOT NULL);
"""


class OutboxError(Exception):
    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq  # the sequence number a failed write left unused


HealthListener = Callable[[str | None], None]


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    id: str
    type: str
    topic: str
    payload: bytes
    created: float
    expiry_s: int | None


class Outbox:
    """Thread-safe; one instance per database file and process."""

    def __init__(
        self,
        path: Path,
        max_events: int = 200_000,
        max_age_s: float = 7 * 86400,
        synchronous: Literal["full", "normal"] = "full",
    ) -> None:
        self.path = path
        self.max_events = max_events
        self.max_age_s = max_age_s
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)
        self._listeners: list[Callable[[], None]] = []
        self._health_listeners: list[HealthListener] = []
        self._last_age_check = float("-inf")
        self.failure: str | None = None  # why the last write failed; None while writes succeed
        self.unrecorded: dict[str, int] = {}  # messages that could not be written, by type, not yet counted
        self._handed_loss: set[int] = set()  # loss reports handed to the publisher: never replaced
        self._memory_nonces: dict[str, float] = {}  # command nonces seen while the file was not writable
        self._unreported: dict[str, int] = {}  # losses a probe counted, for the next append to report
        self._skipped = 0  # sequence numbers used (failed writes, direct messages) not yet in last_seq
        self._synchronous = synchronous
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._connect()
            self._db.executescript(_SCHEMA)
            self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
            self._loss = int(
                self._db.execute(
                    "SELECT COUNT(*) FROM outbox WHERE priority = ?", (LOSS_PRIORITY,)
                ).fetchone()[0]
            )
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(f"cannot open outbox {path}: {exc}") from None
        self.probe()  # a read-only file opens fine: find out now, not at the first passage

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous.upper()}")
            db.execute("PRAGMA secure_delete=ON")  # an erased person's events leave no copy
            # checkpoint every 1 MiB and cut the log back to that: a small state partition is not
            # filled by a write-ahead log that only ever grows to its high-water mark
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        except BaseException:
            db.close()
            raise
        return db

    def _refresh(self) -> None:
        """While writes fail: free the write-ahead log's space (a full disk) and open the file again
        (SQLite keeps a file it opened read-only read-only, even after the file system is writable)."""
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()  # first: SQLite shares one file's state among a process's connections
        try:
            self._db = self._connect()
        except (OSError, sqlite3.Error):
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)

    @classmethod
    def from_config(cls, config: OutboxConfig) -> Outbox:
        return cls(config.path, config.max_events, config.max_age_s, config.synchronous)

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Called after each append (e.g. to wake a publisher); must not block."""
        self._listeners.append(callback)

    def add_health_listener(self, callback: HealthListener) -> None:
        """Called with the reason when writes start failing, and with None when they succeed again."""
        self._health_listeners.append(callback)

    def _set_failure(self, failure: str | None) -> None:
        changed = (failure is None) != (self.failure is None)
        self.failure = failure
        if not changed:
            return
        if failure is None:
            log.warning("outbox %s is writable again", self.path)
        else:
            log.error("outbox %s cannot be written: %s", self.path, failure)
        for callback in self._health_listeners:
            try:
                callback(failure)
            except Exception:
                log.exception("outbox health listener failed")

    def _fold_losses(self) -> dict[str, int]:
        """Inside a write transaction: skipped sequence numbers and unrecorded messages become durable."""
        if self._skipped:
            self._add_counter("last_seq", self._skipped)
        for type_, n in self.unrecorded.items():
            self._add_counter(f"dropped:{type_}", n)
        folded = dict(self._unreported)  # counted by a probe, not yet returned by an append
        for type_, n in self.unrecorded.items():
            folded[type_] = folded.get(type_, 0) + n
        return folded

    def _committed(self) -> None:
        self._skipped = 0
        self.unrecorded = {}

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # BEGIN itself failed: there is nothing to roll back
            self._db.execute("ROLLBACK")

    def probe(self) -> bool:
        """Try one small write; True if the outbox can record. Losses counted in memory are folded in."""
        with self._lock:
            if self.failure is not None:
                self._refresh()
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._add_counter("probes", 1)
                folded = self._fold_losses()
                self._db.execute("COMMIT")
            except (OSError, sqlite3.Error) as exc:
                self._rollback()
                self._set_failure(str(exc))
                return False
            self._committed()
            self._unreported = folded  # the next append returns them, so a loss report follows
        if folded:
            log.warning("outbox: %s messages could not be recorded while writes failed", folded)
        self._set_failure(None)
        return True

    def reserve_seq(self) -> int:
        """A sequence number for a message sent without the outbox (it cannot be written): the next
        stored message continues after it."""
        with self._lock:
            self._skipped += 1
            return self._counter("last_seq") + self._skipped

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def _add_counter(self, name: str, delta: int) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, delta),
        )

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._counter("last_seq")

    def __len__(self) -> int:
        with self._lock:
            return self._count

    def dropped(self) -> dict[str, int]:
        """Messages dropped (by the limits, or not recorded) since the outbox was created, by type."""
        with self._lock:
            rows = self._db.execute("SELECT name, value FROM counters WHERE name LIKE 'dropped:%'").fetchall()
        return {name.split(":", 1)[1]: int(value) for name, value in rows}

    def append(
        self,
        type_: str,
        topic: str,
        build: Callable[[int], tuple[str, bytes]],
        expiry_s: int | None = None,
        now: float | None = None,
        *,
        loss_report: bool = False,
    ) -> tuple[int, dict[str, int]]:
        """Commit one message. ``build(seq)`` returns (id, payload) for the next sequence number.
        Returns the sequence number and what the limits made the outbox drop (and what could not be
        recorded before), by type. A failed write raises ``OutboxError`` and is counted."""
        if type_ not in PRIORITY:
            raise OutboxError(f"unknown message type {type_!r}")
        created = time.time() if now is None else now
        priority = LOSS_PRIORITY if loss_report else PRIORITY[type_]
        with self._lock:
            for attempt in (1, 2):
                try:
                    seq, drops, folded = self._append_once(type_, priority, topic, build, created, expiry_s)
                    break
                except (OSError, sqlite3.Error) as exc:
                    self._rollback()
                    self._recount()
                    if attempt == 2:
                        raise self._write_failed(type_, exc) from None
                    # a write-ahead log only shrinks at a checkpoint: on a full disk that frees its space
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except BaseException:
                    self._rollback()
                    self._recount()
                    raise
            self._committed()
            self._unreported = {}
            self.changed.notify_all()
        self._set_failure(None)
        for callback in self._listeners:
            callback()
        for type_name, n in folded.items():
            drops[type_name] = drops.get(type_name, 0) + n
        return seq, drops

    def _append_once(
        self,
        type_: str,
        priority: int,
        topic: str,
        build: Callable[[int], tuple[str, bytes]],
        created: float,
        expiry_s: int | None,
    ) -> tuple[int, dict[str, int], dict[str, int]]:
        self._db.execute("BEGIN IMMEDIATE")
        folded = self._fold_losses()
        loss_report = priority == LOSS_PRIORITY
        if loss_report:
            self._replace_loss_reports()
        seq = self._counter("last_seq") + 1
        event_id, payload = build(seq)
        expires = None if expiry_s is None else created + expiry_s
        row = (seq, event_id, type_, priority, topic, payload, created, expiry_s, expires)
        self._db.execute(f"INSERT INTO outbox ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        self._add_counter("last_seq", 1)
        drops = self._enforce_limits(created, 1, 1 if loss_report else 0)
        self._db.execute("COMMIT")
        return seq, drops, folded

    def _recount(self) -> None:
        self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        self._loss = int(
            self._db.execute("SELECT COUNT(*) FROM outbox WHERE priority = ?", (LOSS_PRIORITY,)).fetchone()[0]
        )

    def _write_failed(self, type_: str, exc: BaseException) -> OutboxError:
        self._skipped += 1  # its sequence number stays used: the subscriber sees the gap
        self.unrecorded[type_] = self.unrecorded.get(type_, 0) + 1
        self._set_failure(str(exc))
        seq = self._counter("last_seq") + self._skipped
        return OutboxError(f"cannot record a {type_} message in {self.path}: {exc}", seq)

    def sent_instead(self, type_: str) -> None:
        """A message that could not be written went to the broker directly: it is not a loss."""
        with self._lock:
            left = self.unrecorded.get(type_, 0) - 1
            if left > 0:
                self.unrecorded[type_] = left
            else:
                self.unrecorded.pop(type_, None)

    def _replace_loss_reports(self) -> None:
        """A new loss report carries every count: one still waiting (not yet handed to the publisher)
        is replaced, and counted; one already on its way is left to arrive."""
        handed = sorted(self._handed_loss)
        marks = ",".join("?" * len(handed))
        old = self._db.execute(
            f"DELETE FROM outbox WHERE priority = ? AND seq NOT IN ({marks})", (LOSS_PRIORITY, *handed)
        ).rowcount
        if old:
            self._add_counter("dropped:loss_report", old)
            self._count -= old
            self._loss -= old

    def _enforce_limits(self, now: float, added: int, added_loss: int) -> dict[str, int]:
        drops: dict[str, int] = {}
        self._count += added
        self._loss += added_loss

        def delete(rows: list[tuple[int, str]]) -> None:
            for seq, type_ in rows:
                self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                drops[type_] = drops.get(type_, 0) + 1
            self._count -= len(rows)

        if abs(now - self._last_age_check) >= AGE_CHECK_INTERVAL_S:
            self._last_age_check = now
            delete(
                self._db.execute(
                    "SELECT seq, type FROM outbox WHERE created < ? AND priority < ?",
                    (now - self.max_age_s, LOSS_PRIORITY),
                ).fetchall()
            )
            delete(self._db.execute("SELECT seq, type FROM outbox WHERE expires < ?", (now,)).fetchall())
        excess = self._count - self._loss - self.max_events
        if excess > 0:
            delete(
                self._db.execute(
                    "SELECT seq, type FROM outbox WHERE priority < ? ORDER BY priority, seq LIMIT ?",
                    (LOSS_PRIORITY, excess),
                ).fetchall()
            )
        for type_, n in drops.items():
            self._add_counter(f"dropped:{type_}", n)
        return drops

    def pending(self, after_seq: int, limit: int) -> list[OutboxRow]:
        """Messages still waiting for an acknowledgement, oldest first, with seq > after_seq."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, id, type, topic, payload, created, expiry_s, priority FROM outbox "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
            self._handed_loss.update(r[0] for r in rows if r[7] == LOSS_PRIORITY)
        return [OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6]) for r in rows]

    def ack(self, seqs: list[int]) -> None:
        """Remove acknowledged messages (ids no longer present are ignored)."""
        if not seqs:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                removed = loss = 0
                for seq in seqs:
                    loss += self._db.execute(
                        "SELECT COUNT(*) FROM outbox WHERE seq = ? AND priority = ?", (seq, LOSS_PRIORITY)
                    ).fetchone()[0]
                    removed += self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,)).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            self._count -= removed
            self._loss -= loss
            self._handed_loss.difference_update(seqs)
            self.changed.notify_all()

    def wait_until_empty(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._count > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True

    def remember_nonce(self, nonce: str, expires: float, now: float) -> bool:
        """Record a command nonce until ``expires``; False if it was already seen (a replay). While the
        file cannot be written the nonce is kept in memory (replays are still caught in this process)."""
        with self._lock:
            self._memory_nonces = {n: e for n, e in self._memory_nonces.items() if e >= now}
            if nonce in self._memory_nonces:
                return False
            try:
                self._db.execute("DELETE FROM nonces WHERE expires < ?", (now,))
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO nonces (nonce, expires) VALUES (?, ?)", (nonce, expires)
                )
            except (OSError, sqlite3.Error) as exc:
                self._set_failure(str(exc))
                seen = self._db.execute("SELECT 1 FROM nonces WHERE nonce = ?", (nonce,)).fetchone()
                if seen is not None:
                    return False
                self._memory_nonces[nonce] = expires
                return True
            return cursor.rowcount == 1

    def scrub(self, terms: list[str]) -> int:
        """After an erase: every waiting message that names one of ``terms`` (a person's id, name) has
        it replaced by ``[erased]``; then no copy is left in free pages or the write-ahead log.
        Returns how many messages were rewritten."""
        wanted = [t for t in terms if t]
        if not wanted:
            return 0
        with self._lock:
            rows = self._db.execute("SELECT seq, payload FROM outbox").fetchall()
            changed: list[tuple[bytes, int]] = []
            for seq, payload in rows:
                text = bytes(payload).decode("utf-8", errors="replace")
                if not any(t in text or json.dumps(t)[1:-1] in text for t in wanted):
                    continue
                try:
                    doc = json.loads(text)
                except ValueError:
                    continue
                changed.append((json.dumps(_redact(doc, wanted), separators=(",", ":")).encode(), seq))
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany("UPDATE outbox SET payload = ? WHERE seq = ?", changed)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
                self._db.execute("VACUUM")
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except (OSError, sqlite3.Error) as exc:
                raise OutboxError(f"cannot scrub {self.path}: {exc}") from None
        return len(changed)


def _redact(value: object, terms: list[str]) -> object:
    """Every string value that contains one of ``terms`` has it replaced; keys are left alone."""
    if isinstance(value, str):
        for term in terms:
            value = value.replace(term, ERASED)
        return value
    if isinstance(value, list):
        return [_redact(v, terms) for v in value]
    if isinstance(value, dict):
        return {k: _redact(v, terms) for k, v in value.items()}
    return value
