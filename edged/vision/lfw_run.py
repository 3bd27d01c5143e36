"""``edged eval lfw``: embed the images of the LFW pairs with the face pipeline and score them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edged.vision.faces import Face
from edged.vision.image_io import ImageError, load_image
from edged.vision.lfw import Pair, best_threshold, evaluate, read_pairs
from edged.vision.pipeline import FacePipeline

RETRY_SCORE = 0.3  # a second, more permissive detection pass before a face counts as missed


def central_face(faces: list[Face], w: int, h: int) -> Face | None:
    """LFW centres the named person; other faces in the picture are bystanders."""
    if not faces:
        return None
    centre = np.array([w / 2, h / 2])

    def dist(f: Face) -> float:
        return float(np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre))

    return min(faces, key=dist)


def find_face(pipeline: FacePipeline, bgr: np.ndarray) -> Face | None:
    h, w = bgr.shape[:2]
    face = central_face(pipeline.detect(bgr), w, h)
    if face is None:
        cfg = pipeline.detector.config
        saved = cfg.score_threshold
        try:
            cfg.score_threshold = RETRY_SCORE
            face = central_face(pipeline.detect(bgr), w, h)
        finally:
            cfg.score_threshold = saved
    return face


def embed_paths(
    pipeline: FacePipeline,
    paths: list[Path],
    transform: Callable[[Path, np.ndarray, Face], np.ndarray] | None = None,
) -> dict[Path, np.ndarray | None]:
    """Embedding per image (``None`` where no face was found). ``transform`` may alter the image once
    its face is known (e.g. draw a synthetic mask) and the face is then re-analysed."""
    out: dict[Path, np.ndarray | None] = {}
    for path in paths:
        try:
            bgr = load_image(path)
        except ImageError:
            out[path] = None
            continue
        face = find_face(pipeline, bgr)
        if face is not None and transform is not None:
            bgr = transform(path, bgr, face)
            face = find_face(pipeline, bgr)
        if face is None:
            out[path] = None
            continue
        pipeline.embed([face])
        out[path] = face.embedding
    return out


def pair_scores(pairs: list[Pair], emb: dict[Path, np.ndarray | None]) -> np.ndarray:
    scores = np.empty(len(pairs))
    for i, p in enumerate(pairs):
        a, b = emb.get(p.a), emb.get(p.b)
        scores[i] = -1.0 if a is None or b is None else float(np.dot(a, b))
    return scores


def run_lfw(pipeline: FacePipeline, data_dir: Path, folds: int = 10) -> dict:
    """Test on the first ``folds`` folds. With two or more, each test fold's threshold comes from the
    other evaluated folds; with one, from fold 2 (person-disjoint from fold 1), never from the test fold."""
    everything = read_pairs(data_dir)
    tuning = [p for p in everything if p.fold == 1] if folds == 1 else []
    pairs = [p for p in everything if p.fold < folds]
    paths = sorted({p.a for p in pairs} | {p.b for p in pairs})
    t0 = time.perf_counter()
    emb = embed_paths(pipeline, paths)
    elapsed = time.perf_counter() - t0
    fixed = None
    if tuning:
        extra = sorted(({p.a for p in tuning} | {p.b for p in tuning}) - set(paths))
        emb.update(embed_paths(pipeline, extra))
        fixed = best_threshold(pair_scores(tuning, emb), np.array([p.same for p in tuning]))
    scores = pair_scores(pairs, emb)
    result = evaluate(
        scores, np.array([p.same for p in pairs]), np.array([p.fold for p in pairs]), fixed_threshold=fixed
    )
    if tuning:
        result["threshold_source"] = "fold 2 (person-disjoint from the test fold)"
    result.update(
        {
            "pairs": len(pairs),
            "folds": folds,
            "images": len(paths),
            "missed": sum(1 for k in paths if emb[k] is None),
            "missed_images": sorted(str(k) for k in paths if emb[k] is None),
            "images_per_second": len(paths) / elapsed if elapsed > 0 else 0.0,
        }
    )
    return result
