"""A one-frame mailbox: the producer overwrites, the consumer takes the newest. Stale frames are counted."""

from __future__ import annotations

import threading

from edged.capture.source import Frame


class LatestFrameSlot:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self.delivered = 0  # frames put
        self.dropped = 0  # frames replaced before anyone took them
        self._closed = False

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self.delivered += 1
            self._cond.notify_all()

    def take(self, timeout: float) -> Frame | None:
        """The newest frame not yet taken, waiting up to ``timeout`` s; ``None`` if none came (or closed)."""
        with self._cond:
            if self._frame is None and not self._closed:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            return frame

    def close(self) -> None:
        """Wake any waiting consumer; later ``take`` calls return what is left, then ``None`` at once."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
