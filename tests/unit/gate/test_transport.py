from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import serial

from edged.gate.config import SerialPortConfig
from edged.gate.ptyline import PtyLine
from edged.gate.transport import Backoff, SerialTransport


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_up_to_the_maximum_and_resets() -> None:
    clock = FakeClock()
    backoff = Backoff(0.5, 2.0, clock)
    waits = []
    for _ in range(4):
        assert backoff.ready()
        backoff.failed()
        start = clock.now
        while not backoff.ready():
            clock.now += 0.125
        waits.append(clock.now - start)
    assert waits == [0.5, 1.0, 2.0, 2.0]
    backoff.succeeded()
    backoff.failed()
    clock.now += 0.5
    assert backoff.ready()


@pytest.fixture
def line() -> Iterator[PtyLine]:
    with PtyLine() as pty_line:
        yield pty_line


def read_exactly(transport: SerialTransport, n: int, timeout: float = 5.0) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < n and time.monotonic() < deadline:
        data += transport.read(n - len(data))
        time.sleep(0.005)
    return data


def test_bytes_cross_the_line(line: PtyLine) -> None:
    a = SerialTransport(SerialPortConfig(port=line.a))
    b = SerialTransport(SerialPortConfig(port=line.b))
    try:
        assert b.open()  # pyserial drops what is pending when it opens a port: open the reader first
        assert a.write(b"\x01\x02hello") == 7
        assert read_exactly(b, 7) == b"\x01\x02hello"
        assert b.last_rx > float("-inf")
    finally:
        a.close()
        b.close()


def test_vanishing_port_never_raises_and_comes_back(line: PtyLine) -> None:
    a = SerialTransport(SerialPortConfig(port=line.a, reconnect_min_s=0.05, reconnect_max_s=0.2))
    peer = serial.Serial(line.b, timeout=0.5)
    try:
        assert a.open() and a.opens == 1
        line.unplug("a")
        for _ in range(20):
            assert a.read(16) == b""
            a.write(b"lost")
            a.flush()
        assert not a.is_open and a.errors >= 1 and a.last_error
        line.replug("a")
        deadline = time.monotonic() + 5.0
        while not a.is_open and time.monotonic() < deadline:
            a.read(1)
            time.sleep(0.02)
        assert a.is_open and a.opens == 2
        assert a.write(b"back") == 4
        assert peer.read(4) == b"back"
    finally:
        a.close()
        peer.close()


def test_rs485_mode_on_a_port_without_it_is_a_clear_error(line: PtyLine) -> None:
    transport = SerialTransport(SerialPortConfig(port=line.a, rs485={}))
    try:
        assert not transport.open()
        assert "RS-485" in transport.last_error
    finally:
        transport.close()


def test_missing_port_is_reported_not_raised(tmp_path: object) -> None:
    transport = SerialTransport(SerialPortConfig(port="/nonexistent/ttyUSB9"))
    assert not transport.open()
    assert transport.read(10) == b"" and transport.write(b"x") == 0
    assert "cannot open /nonexistent/ttyUSB9" in transport.last_error
    transport.close()
