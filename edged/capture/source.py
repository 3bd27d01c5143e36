"""The ``FrameSource`` interface: every camera, file or replay yields timestamped frames through it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One frame. RGB sources give BGR uint8 (H, W, 3); radiometric sources give float32 °C (H, W)."""

    image: np.ndarray
    timestamp: float  # seconds, time.monotonic() clock of this process
    index: int  # frame number from the source, counting from 0 after each open


class SourceError(Exception):
    """The source cannot deliver (device gone, stream ended badly, corrupt data)."""


class FrameSource(ABC):
    name: str

    @abstractmethod
    def open(self) -> None:
        """Open the device/file; raises :class:`SourceError` when it cannot."""

    @abstractmethod
    def read(self, timeout: float) -> Frame | None:
        """Next frame, or ``None`` when none came within ``timeout`` seconds (or a finite source ended:
        then :attr:`ended` is true). Raises :class:`SourceError` when the source is lost."""

    @abstractmethod
    def close(self) -> None: ...

    @property
    def ended(self) -> bool:
        """True once a finite source (a file) has delivered its last frame."""
        return False
