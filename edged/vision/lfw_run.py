"""``edged eval lfw``: embed the images of the LFW pairs with the face pipeline and score them."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edged.vision.faces import Face
from edged.vision.image_io import ImageError, load_image
from edged.vision.lfw import DEV_FILES, LfwError, Pair, best_threshold, evaluate, read_dev_pairs, read_pairs
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


def run_lfw(pipeline: FacePipeline, data_dir: Path, folds: int = 10, pool_folds: int = 10) -> dict:
    """The standard protocol, reported on the first ``folds`` test folds: every image of View 2 is
    embedded, and each test fold's threshold is chosen on the other nine folds, never on itself.
    ``pool_folds`` < 10 takes only the first ``pool_folds`` folds at all (a test fold's threshold then
    comes from the other ``pool_folds`` - 1): fewer images to embed, for a quick check, not the benchmark."""
    if not 2 <= pool_folds <= 10 or not 1 <= folds <= pool_folds:
        raise LfwError(f"--pool-folds must lie within 2 … 10 and hold the {folds} test fold(s)")
    pairs = [p for p in read_pairs(data_dir) if p.fold < pool_folds]
    paths = sorted({p.a for p in pairs} | {p.b for p in pairs})
    t0 = time.perf_counter()
    emb = embed_paths(pipeline, paths)
    elapsed = time.perf_counter() - t0
    result = evaluate(
        pair_scores(pairs, emb),
        np.array([p.same for p in pairs]),
        np.array([p.fold for p in pairs]),
        test_folds=range(folds),
    )
    tested = [p for p in pairs if p.fold < folds]
    tested_paths = {p.a for p in tested} | {p.b for p in tested}
    result.update(
        {
            "pairs": len(tested),
            "folds": folds,
            "pool_folds": pool_folds,
            "images": len(paths),
            "missed": sum(1 for k in tested_paths if emb[k] is None),
            "missed_images": sorted(str(k) for k in tested_paths if emb[k] is None),
            "images_per_second": len(paths) / elapsed if elapsed > 0 else 0.0,
        }
    )
    return result


def run_lfw_view1(pipeline: FacePipeline, data_dir: Path) -> dict:
    """View 1, LFW's development view: the threshold that maximises accuracy on pairsDevTrain is applied to
    pairsDevTest. Pairs whose image files are not in ``data_dir`` are skipped and counted (a copy of LFW
    made for View 2 lacks some View 1 images); a face not found still scores as a non-match."""
    train_all, test_all = (read_dev_pairs(data_dir, name) for name in DEV_FILES)
    train = [p for p in train_all if p.a.exists() and p.b.exists()]
    test = [p for p in test_all if p.a.exists() and p.b.exists()]
    if not train or not test:
        raise LfwError(f"{data_dir}: no View 1 pair has both of its images in lfw-deepfunneled/")
    paths = sorted({p.a for p in train + test} | {p.b for p in train + test})
    t0 = time.perf_counter()
    emb = embed_paths(pipeline, paths)
    elapsed = time.perf_counter() - t0
    threshold = best_threshold(pair_scores(train, emb), np.array([p.same for p in train]))
    same = np.array([p.same for p in test])
    correct = (pair_scores(test, emb) >= threshold) == same
    return {
        "view": 1,
        "accuracy": float(correct.mean()),
        "errors": int((~correct).sum()),
        "threshold": threshold,
        "threshold_source": DEV_FILES[0],
        "pairs": len(test),
        "train_pairs": len(train),
        "skipped_pairs": {DEV_FILES[0]: len(train_all) - len(train), DEV_FILES[1]: len(test_all) - len(test)},
        "images": len(paths),
        "missed": sum(1 for k in paths if emb[k] is None),
        "images_per_second": len(paths) / elapsed if elapsed > 0 else 0.0,
    }
