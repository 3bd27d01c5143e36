"""Optimisation profiles for dynamic batch, and which profile serves a given batch.

A per-face model gets two profiles: batch 1 exactly (the common case, one person at the gate) and
2..max_batch tuned at ``opt_batch``. A per-frame model (the detector) gets batch 1 only. A batch larger
than the largest profile is split into chunks by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

PER_FRAME_MODELS = frozenset({"fr_detect"})


class ProfileError(ValueError):
    pass


@dataclass(frozen=True)
class BatchProfile:
    min: int
    opt: int
    max: int

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise ProfileError(f"profile needs 1 <= min <= opt <= max, got {self.min}/{self.opt}/{self.max}")

    def covers(self, batch: int) -> bool:
        return self.min <= batch <= self.max


def batch_profiles(model_name: str, max_batch: int, opt_batch: int) -> tuple[BatchProfile, ...]:
    if max_batch < 1 or not 1 <= opt_batch <= max_batch:
        raise ProfileError(f"need 1 <= opt_batch <= max_batch, got opt {opt_batch}, max {max_batch}")
    if model_name in PER_FRAME_MODELS or max_batch == 1:
        return (BatchProfile(1, 1, 1),)
    return (BatchProfile(1, 1, 1), BatchProfile(2, max(2, opt_batch), max_batch))


def input_shapes(
    shape: tuple[int | None, ...], profile: BatchProfile
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(min, opt, max) shapes of an input whose batch dimension (and only that) is dynamic."""
    if not shape or any(d is None for d in shape[1:]):
        raise ProfileError(f"only the batch dimension may be dynamic, input shape is {shape}")
    rest = tuple(int(d) for d in shape[1:] if d is not None)
    return (profile.min, *rest), (profile.opt, *rest), (profile.max, *rest)


def select_profile(profiles: tuple[BatchProfile, ...], batch: int) -> int:
    """Index of the narrowest profile that covers ``batch`` (narrow = tuned closest to it)."""
    if batch < 1:
        raise ProfileError(f"batch must be at least 1, got {batch}")
    fitting = [i for i, p in enumerate(profiles) if p.covers(batch)]
    if not fitting:
        raise ProfileError(
            f"batch {batch} exceeds every profile (largest max {max(p.max for p in profiles)})"
        )
    return min(fitting, key=lambda i: (profiles[i].max - profiles[i].min, i))


def split_batch(batch: int, max_batch: int) -> list[tuple[int, int]]:
    """[start, stop) slices of at most ``max_batch`` rows covering ``batch`` rows."""
    if max_batch < 1:
        raise ProfileError(f"max_batch must be at least 1, got {max_batch}")
    return [(start, min(start + max_batch, batch)) for start in range(0, batch, max_batch)]
