"""Running every pipeline on the same inputs, alternating per input, timing each call.

The pipelines of one run live in one process (``workers=1``) or, with ``workers=N``, each of N worker
processes holds all of them and takes chunks of inputs; in both cases every input is decoded once and
given to every pipeline in turn, the order rotating from one input to the next, so that no pipeline
always runs first (warm caches) or last, and a load spike on the machine hits all of them alike.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from edged.peers.base import Pipeline
from edged.peers.pipelines import EdgedPipeline, Settings, build
from edged.peers.synthetic_mask import colour_for, draw_mask
from edged.vision.image_io import ImageError, load_image

log = logging.getLogger(__name__)
CHUNK = 32
T = TypeVar("T")


@dataclass
class Outcome:
    """One pipeline on one input: an embedding (or ``None``: no face), or boxes; and milliseconds."""

    ms: float
    embedding: np.ndarray | None = None
    boxes: np.ndarray | None = None
    error: str | None = None


@dataclass
class ItemResult:
    key: str
    by_pipeline: dict[str, Outcome] = field(default_factory=dict)
    skipped: str | None = None  # why no pipeline ran on it (unreadable image, no face to mask)


def rotation(names: Sequence[str], k: int) -> list[str]:
    r = k % len(names)
    return list(names[r:]) + list(names[:r])


def timed(fn: Callable[[np.ndarray], T], bgr: np.ndarray) -> tuple[T, float]:
    t = time.perf_counter()
    out = fn(bgr)
    return out, (time.perf_counter() - t) * 1000.0


def run_item(pipes: dict[str, Pipeline], k: int, key: str, bgr: np.ndarray, task: str) -> ItemResult:
    res = ItemResult(key)
    for name in rotation(sorted(pipes), k):
        p = pipes[name]
        if task == "identify" and p.can_embed:
            emb, ms = timed(p.identify, bgr)
            res.by_pipeline[name] = Outcome(ms, embedding=emb)
        else:  # detection (detector-only pipelines on LFW count missed faces this way)
            dets, ms = timed(p.detect, bgr)
            boxes = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
            res.by_pipeline[name] = Outcome(ms, boxes=boxes)
    return res


# --- worker side ---------------------------------------------------------------------------------
_PIPES: dict[str, Pipeline] = {}


def init_worker(names: list[str], settings: Settings) -> None:
    cv2.setNumThreads(settings.threads)
    _PIPES.clear()
    _PIPES.update({p.name: p for p in build(names, settings)})


def masked(pipes: dict[str, Pipeline], path: Path, bgr: np.ndarray) -> np.ndarray | None:
    """The image with a synthetic mask drawn from edged's landmarks of the unmasked face (untimed)."""
    edged = pipes.get("edged")
    if not isinstance(edged, EdgedPipeline):
        raise RuntimeError(
            "the masked protocol draws masks from edged's landmarks: include the edged pipeline"
        )
    face = edged.central_face(bgr)
    if face is None or face.landmarks is None:
        return None
    return draw_mask(bgr, face.landmarks, colour_for(str(path)))


def run_files(task: str, start: int, paths: list[Path], mask: bool = False) -> list[ItemResult]:
    out = []
    for k, path in enumerate(paths, start=start):
        try:
            bgr = load_image(path)
        except ImageError as exc:
            out.append(ItemResult(str(path), skipped=str(exc)))
            continue
        if mask:
            m = masked(_PIPES, path, bgr)
            if m is None:
                out.append(ItemResult(str(path), skipped="edged found no face to draw the mask on"))
                continue
            bgr = m
        out.append(run_item(_PIPES, k, str(path), bgr, task))
    return out


def run_video(path: Path, max_frames: int) -> list[ItemResult]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ImageError(f"{path}: OpenCV cannot open the video")
    out = []
    try:
        for k in range(max_frames):
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            out.append(run_item(_PIPES, k, f"{path.name}#{k}", frame, "detect"))
    finally:
        cap.release()
    return out


# --- parent side ---------------------------------------------------------------------------------
class Runner:
    """Owns the pipelines (in-process or in worker processes) for one benchmark run."""

    def __init__(self, names: list[str], settings: Settings, workers: int = 1):
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        if workers > 1:
            ctx = multiprocessing.get_context("spawn")
            self.pool = ProcessPoolExecutor(workers, ctx, init_worker, (names, settings))
        else:
            init_worker(names, settings)

    def files(self, task: str, paths: list[Path], what: str, mask: bool = False) -> list[ItemResult]:
        chunks = [(i, paths[i : i + CHUNK]) for i in range(0, len(paths), CHUNK)]
        results: list[ItemResult] = []
        t0 = time.monotonic()
        for done, part in enumerate(self._map(task, chunks, mask), start=1):
            results.extend(part)
            if done % 20 == 0 or done == len(chunks):
                log.info("%s: %d/%d images, %.0f s", what, len(results), len(paths), time.monotonic() - t0)
        return results

    def _map(self, task: str, chunks: list[tuple[int, list[Path]]], mask: bool) -> Iterator[list[ItemResult]]:
        if self.pool is None:
            for start, part in chunks:
                yield run_files(task, start, part, mask)
            return
        futures = [self.pool.submit(run_files, task, start, part, mask) for start, part in chunks]
        for f in futures:
            yield f.result()

    def video(self, path: Path, max_frames: int) -> list[ItemResult]:
        if self.pool is None:
            return run_video(path, max_frames)
        return self.pool.submit(run_video, path, max_frames).result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        _PIPES.clear()
