"""A two-ended serial line made of two pty pairs, for tests and benchmarks.

Each end is a stable path (a symlink to a pty slave) that pyserial opens like a real port. A thread
copies bytes between the two pty masters and can inject noise, babble, drop what flows towards one end
(``drop``: a broken receive pair, the link looks up to the sender), or pull one end out (``unplug``:
the open port fails with EIO and the path vanishes) and put it back (``replug``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import tempfile
import threading
import tty
from pathlib import Path

SIDES = ("a", "b")


class _End:
    def __init__(self, link: Path) -> None:
        self.link = link
        self.master = -1
        self.slave = -1

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line editing before the user's pyserial opens it
        os.set_blocking(self.master, False)
        tmp = self.link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(self.slave))
        tmp.replace(self.link)

    def unplug(self) -> None:
        self.link.unlink(missing_ok=True)
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1


class PtyLine:
    def __init__(self, directory: str | Path | None = None) -> None:
        self._tmp = None if directory is not None else tempfile.TemporaryDirectory(prefix="edged-line-")
        base = Path(directory if directory is not None else self._tmp.name)  # type: ignore[union-attr]
        self._ends = {side: _End(base / f"tty-{side}") for side in SIDES}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._babble = False
        self._dropping: set[str] = set()
        self.dropped = 0  # bytes discarded by ``drop``
        self._wake_r, self._wake_w = os.pipe()
        self.forwarded = 0
        for end in self._ends.values():
            end.plug()
        self._thread = threading.Thread(target=self._pump, name="pty-line", daemon=True)
        self._thread.start()

    @property
    def a(self) -> str:
        return str(self._ends["a"].link)

    @property
    def b(self) -> str:
        return str(self._ends["b"].link)

    def inject(self, data: bytes, to: str = "a") -> None:
        """Write ``data`` into the line towards end ``to`` (as if the wire picked it up)."""
        with self._lock:
            fd = self._ends[to].master
            if fd >= 0:
                _write_all(fd, data)

    def babble(self, on: bool) -> None:
        """A device that keeps sending garbage to both ends until switched off."""
        self._babble = on
        os.write(self._wake_w, b"x")

    def drop(self, towards: str, on: bool = True) -> None:
        """Discard every byte flowing towards end ``towards`` until switched off (counted in ``dropped``)."""
        with self._lock:
            if on:
                self._dropping.add(towards)
            else:
                self._dropping.discard(towards)

    def unplug(self, side: str = "a") -> None:
        with self._lock:
            self._ends[side].unplug()
        os.write(self._wake_w, b"x")

    def replug(self, side: str = "a") -> None:
        with self._lock:
            self._ends[side].plug()
        os.write(self._wake_w, b"x")

    def close(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=2.0)
        with self._lock:
            for end in self._ends.values():
                end.unplug()
        os.close(self._wake_r)
        os.close(self._wake_w)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> PtyLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pump(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                fds = {end.master: side for side, end in self._ends.items() if end.master >= 0}
            timeout = 0.005 if self._babble else 0.5
            try:
                readable, _, _ = select.select([self._wake_r, *fds], [], [], timeout)
            except (OSError, ValueError):
                continue  # an end was unplugged under us
            if self._wake_r in readable:
                os.read(self._wake_r, 64)
            with self._lock:
                for fd in readable:
                    side = fds.get(fd)
                    if side is None or self._ends[side].master != fd:
                        continue
                    try:
                        data = os.read(fd, 4096)
                    except OSError:
                        continue
                    to = "b" if side == "a" else "a"
                    other = self._ends[to].master
                    if data and to in self._dropping:
                        self.dropped += len(data)
                    elif data and other >= 0:
                        _write_all(other, data)
                        self.forwarded += len(data)
                if self._babble:
                    for end in self._ends.values():
                        if end.master >= 0:
                            _write_all(end.master, secrets.token_bytes(16))


def _write_all(fd: int, data: bytes) -> None:
    """Best effort, like a wire: what the far side's buffer cannot take is lost."""
    with contextlib.suppress(OSError):
        os.write(fd, data)
