"""A paho client that reads its socket in large chunks, for the connection that receives commands.

paho reads each packet with three or more ``recv`` calls (type byte, length bytes, payload) and goes back
to ``select`` after every packet. Each of those system calls gives up the GIL, and a thread that wants it
back waits up to the interpreter's switch interval (5 ms) behind any busy thread (the vision loop): under
a flood the command connection then reads a few hundred messages a second and a signed command waits
behind the backlog. Here one ``recv`` takes up to ``CHUNK_BYTES`` and the packets already buffered are
parsed without another system call.

Relies on paho 2.x internals (``_create_socket``, ``_sock``); ``tests/integration/mqtt/test_bufferedread.py``
runs it against a real broker so a paho upgrade that breaks it fails there."""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

CHUNK_BYTES = 256 * 1024
DRAIN_PACKETS = 2000  # packets parsed from the buffer before paho's loop runs again (writes, keepalive)


class _ReadBuffer:
    """The socket paho sees: ``recv`` served from one large read; everything else passed through."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        if self._pos >= len(self._data):
            data = self._sock.recv(CHUNK_BYTES)  # BlockingIOError / SSLWantReadError go to paho as before
            if not data:
                return b""
            self._data, self._pos = data, 0
        chunk = self._data[self._pos : self._pos + bufsize]
        self._pos += len(chunk)
        return chunk

    def buffered(self) -> int:
        return len(self._data) - self._pos

    def pending(self) -> int:
        """paho skips the wait in ``select`` while this is non-zero (as it does for TLS)."""
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return self.buffered() + int(inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedReadClient(paho.Client):
    def _create_socket(self) -> Any:
        return _ReadBuffer(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        for _ in range(DRAIN_PACKETS):
            sock = self._sock
            if (
                rc != MQTTErrorCode.MQTT_ERR_SUCCESS
                or not isinstance(sock, _ReadBuffer)
                or not sock.buffered()
            ):
                break
            rc = super().loop_read(max_packets)
        return rc
