"""Sessions expire (idle and absolute), and wrong passwords lock an address out for a while."""

from __future__ import annotations

from edged.console.sessions import LoginLimiter, SessionStore, csrf_ok


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_sessions_end_after_idle_time_and_after_their_lifetime() -> None:
    clock = Clock()
    store = SessionStore(idle_s=60, max_s=300, max_sessions=4, clock=clock)
    s = store.create("10.0.0.1")
    clock.t += 59
    assert store.get(s.token) is s
    clock.t += 61
    assert store.get(s.token) is None
    s = store.create("10.0.0.1")
    for _ in range(6):
        clock.t += 50
        assert store.get(s.token) is s
    clock.t += 1
    assert store.get(s.token) is None  # 301 s after login, used all along
    assert store.get(None) is None and store.get("") is None


def test_sessions_are_bounded_and_csrf_tokens_are_per_session() -> None:
    store = SessionStore(idle_s=60, max_s=300, max_sessions=2, clock=Clock())
    a, b, c = (store.create("x") for _ in range(3))
    assert len(store) == 2 and store.get(a.token) is None
    assert csrf_ok(b, b.csrf) and not csrf_ok(b, c.csrf) and not csrf_ok(b, None) and not csrf_ok(b, "")


def test_wrong_passwords_lock_out_one_address_for_a_while() -> None:
    clock = Clock()
    limiter = LoginLimiter(failures=3, window_s=60, lockout_s=120, clock=clock)
    for _ in range(2):
        limiter.failed("a")
    assert limiter.locked_for("a") == 0
    limiter.failed("a")
    assert limiter.locked_for("a") == 120
    assert limiter.locked_for("b") == 0
    clock.t += 121
    assert limiter.locked_for("a") == 0
    limiter.failed("a")
    clock.t += 61
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.locked_for("a") == 0  # the first failure left the window
