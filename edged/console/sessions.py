"""Console sessions (server-side, random tokens, idle and absolute expiry, one CSRF token each) and the
limit on wrong passwords per client address."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

COOKIE = "edged_console"


@dataclass
class Session:
    token: str
    csrf: str
    client: str
    created: float
    last_seen: float
    pictures: list[bytes] = field(default_factory=list)  # pictures kept for an enrolment
    embeddings: list[Any] = field(default_factory=list)  # their faces' embeddings (one person only)


class SessionStore:
    def __init__(
        self, idle_s: float, max_s: float, max_sessions: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.idle_s = idle_s
        self.max_s = max_s
        self.max_sessions = max_sessions
        self.clock = clock
        self._lock = threading.Lock()
        self._by_token: dict[str, Session] = {}

    def create(self, client: str) -> Session:
        now = self.clock()
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), client, now, now)
        with self._lock:
            self._expire(now)
            while len(self._by_token) >= self.max_sessions:  # the oldest login gives way
                oldest = min(self._by_token.values(), key=lambda x: x.created)
                del self._by_token[oldest.token]
            self._by_token[s.token] = s
        return s

    def get(self, token: str | None) -> Session | None:
        """The live session for a cookie value, its idle timer restarted; None if unknown or expired."""
        if not token:
            return None
        now = self.clock()
        with self._lock:
            self._expire(now)
            s = self._by_token.get(token)
            if s is not None:
                s.last_seen = now
            return s

    def alive(self, token: str) -> bool:
        """Whether the session still stands, without counting this as use (a live stream's check)."""
        now = self.clock()
        with self._lock:
            self._expire(now)
            return token in self._by_token

    def end(self, token: str) -> None:
        with self._lock:
            self._by_token.pop(token, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_token)

    def _expire(self, now: float) -> None:
        dead = [
            t
            for t, s in self._by_token.items()
            if now - s.last_seen > self.idle_s or now - s.created > self.max_s
        ]
        for t in dead:
            del self._by_token[t]


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode())


class LoginLimiter:
    """``failures`` wrong passwords from one address within ``window_s`` lock it out for ``lockout_s``;
    a lock-out refuses even the right password, so guessing cannot go on at full speed."""

    MAX_ADDRESSES = 10000

    def __init__(
        self, failures: int, window_s: float, lockout_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.clock = clock
        self._lock = threading.Lock()
        self._fails: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self.refused = 0  # attempts refused while locked out

    def locked_for(self, client: str) -> float:
        """Seconds left on the lock-out of ``client`` (0: it may try)."""
        with self._lock:
            left = self._locked_until.get(client, 0.0) - self.clock()
            if left > 0:
                self.refused += 1
                return left
            self._locked_until.pop(client, None)
            return 0.0

    def failed(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            if client not in self._fails and len(self._fails) >= self.MAX_ADDRESSES:
                self._fails.clear()  # bounded memory; lock-outs in force are kept
            q = self._fails.setdefault(client, deque())
            q.append(now)
            while q and now - q[0] > self.window_s:
                q.popleft()
            if len(q) >= self.failures:
                self._locked_until[client] = now + self.lockout_s
                q.clear()

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._fails.pop(client, None)
