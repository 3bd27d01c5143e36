from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from edged.health import Heartbeats, SdNotifier, WatchdogFeeder, watchdog_interval_s


@pytest.fixture()
def listener(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    yield path, sock
    sock.close()


def recv(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_messages_reach_the_notify_socket(listener) -> None:  # type: ignore[no-untyped-def]
    path, sock = listener
    n = SdNotifier(str(path))
    assert n.enabled
    assert n.ready("warm")
    assert recv(sock) == ["READY=1", "STATUS=warm"]
    assert n.reloading()
    msg = recv(sock)
    assert msg[0] == "RELOADING=1" and msg[1].startswith("MONOTONIC_USEC=") and int(msg[1].split("=")[1]) > 0
    n.watchdog()
    assert recv(sock) == ["WATCHDOG=1"]
    n.stopping()
    assert recv(sock) == ["STOPPING=1", "STATUS=stopping"]
    n.close()


def test_without_notify_socket_everything_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = SdNotifier()
    assert not n.enabled
    assert n.ready() is False


def test_watchdog_interval_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    assert watchdog_interval_s() == 5.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert watchdog_interval_s() is None
    monkeypatch.setenv("WATCHDOG_USEC", "junk")
    monkeypatch.delenv("WATCHDOG_PID")
    assert watchdog_interval_s() is None


def test_watchdog_fed_only_while_heartbeats_are_fresh(listener) -> None:  # type: ignore[no-untyped-def]
    path, sock = listener
    beats = Heartbeats()
    vision = beats.register("vision", max_age_s=60.0)
    feeder = WatchdogFeeder(SdNotifier(str(path)), beats, interval_s=1.0)
    assert feeder.tick()
    assert recv(sock) == ["WATCHDOG=1"]
    vision.last = time.monotonic() - 61.0  # the vision loop hung a minute ago
    assert not feeder.tick()
    msg = recv(sock)
    assert msg[0].startswith("STATUS=stalled: vision")
    vision.beat()
    assert feeder.tick()
    assert recv(sock) == ["STATUS=running"]
    assert recv(sock) == ["WATCHDOG=1"]
    assert (feeder.fed, feeder.withheld) == (2, 1)


def test_unregistered_heartbeat_no_longer_counts() -> None:
    beats = Heartbeats()
    hb = beats.register("capture.rgb", max_age_s=1.0)
    hb.last -= 5.0
    assert beats.stale()[0].startswith("capture.rgb")
    beats.unregister("capture.rgb")
    assert beats.stale() == []


def test_latency_percentiles() -> None:
    from edged.health.metrics import LatencyRecorder, percentiles

    rec = LatencyRecorder(window=1000)
    for v in range(1, 101):
        rec.add("detect", float(v))
    s = rec.summary()["detect"]
    assert s["n"] == 100 and s["p50"] == 50.5 and s["p99"] == 99.01 and s["max"] == 100.0
    assert percentiles([]) == {"n": 0}
    small = LatencyRecorder(window=3)
    small.add_all({"a": 1.0})
    for v in (2.0, 3.0, 4.0):
        small.add("a", v)
    assert small.values("a") == [2.0, 3.0, 4.0]
