"""Durable outbox: every message is committed to SQLite (WAL) before it is published and removed only
once the broker has acknowledged it. Bounded by count and age; what has to go is counted."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edged.events.config import OutboxConfig

# Lower goes first when the outbox is full: status and snapshots, then gallery receipts, passages and alarms.
PRIORITY = {"status": 0, "snapshot": 0, "gallery": 1, "audit": 1, "passage": 2, "alarm": 2}

AGE_CHECK_INTERVAL_S = 1.0
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
    pass


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
        self._last_age_check = float("-inf")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(f"cannot open outbox {path}: {exc}") from None
        self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    @classmethod
    def from_config(cls, config: OutboxConfig) -> Outbox:
        return cls(config.path, config.max_events, config.max_age_s, config.synchronous)

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Called after each append (e.g. to wake a publisher); must not block."""
        self._listeners.append(callback)

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
        """Messages dropped since the outbox was created, by type."""
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
    ) -> tuple[int, dict[str, int]]:
        """Commit one message. ``build(seq)`` returns (id, payload) for the next sequence number.
        Returns the sequence number and what the limits made the outbox drop, by type."""
        if type_ not in PRIORITY:
            raise OutboxError(f"unknown message type {type_!r}")
        created = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = self._counter("last_seq") + 1
                event_id, payload = build(seq)
                expires = None if expiry_s is None else created + expiry_s
                row = (seq, event_id, type_, PRIORITY[type_], topic, payload, created, expiry_s, expires)
                self._db.execute(f"INSERT INTO outbox ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                self._add_counter("last_seq", 1)
                self._count += 1
                drops = self._enforce_limits(created)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
                raise
            self.changed.notify_all()
        for callback in self._listeners:
            callback()
        return seq, drops

    def _enforce_limits(self, now: float) -> dict[str, int]:
        drops: dict[str, int] = {}

        def delete(rows: list[tuple[int, str]]) -> None:
            for seq, type_ in rows:
                self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                drops[type_] = drops.get(type_, 0) + 1
            self._count -= len(rows)

        if abs(now - self._last_age_check) >= AGE_CHECK_INTERVAL_S:
            self._last_age_check = now
            delete(
                self._db.execute(
                    "SELECT seq, type FROM outbox WHERE created < ?", (now - self.max_age_s,)
                ).fetchall()
            )
            delete(self._db.execute("SELECT seq, type FROM outbox WHERE expires < ?", (now,)).fetchall())
        excess = self._count - self.max_events
        if excess > 0:
            delete(
                self._db.execute(
                    "SELECT seq, type FROM outbox ORDER BY priority, seq LIMIT ?", (excess,)
                ).fetchall()
            )
        for type_, n in drops.items():
            self._add_counter(f"dropped:{type_}", n)
        return drops

    def pending(self, after_seq: int, limit: int) -> list[OutboxRow]:
        """Messages still waiting for an acknowledgement, oldest first, with seq > after_seq."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, id, type, topic, payload, created, expiry_s FROM outbox "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [OutboxRow(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6]) for r in rows]

    def ack(self, seqs: list[int]) -> None:
        """Remove acknowledged messages (ids no longer present are ignored)."""
        if not seqs:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                removed = 0
                for seq in seqs:
                    removed += self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,)).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._count -= removed
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
        """Record a command nonce until ``expires``; False if it was already seen (a replay)."""
        with self._lock:
            self._db.execute("DELETE FROM nonces WHERE expires < ?", (now,))
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO nonces (nonce, expires) VALUES (?, ?)", (nonce, expires)
            )
            return cursor.rowcount == 1
