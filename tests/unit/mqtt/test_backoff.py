from __future__ import annotations

from edged.mqtt.client import RECONNECT_CAP_S, RECONNECT_FIRST_S, Backoff


def test_reconnect_delays_double_with_jitter_up_to_the_cap_and_reset() -> None:
    backoff = Backoff()
    delays = [backoff.next_delay() for _ in range(12)]
    steps = [min(RECONNECT_CAP_S, RECONNECT_FIRST_S * 2**i) for i in range(12)]
    assert all(step / 2 <= d <= step for d, step in zip(delays, steps, strict=True))
    assert max(delays) <= RECONNECT_CAP_S and len({round(d, 6) for d in delays}) > 1  # jittered
    backoff.reset()
    assert backoff.next_delay() <= RECONNECT_FIRST_S
