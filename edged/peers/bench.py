"""``edged bench peers``: the whole comparison in one run, turned into one JSON-ready report."""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from edged.peers import maskset
from edged.peers.pipelines import FACTORIES, Settings
from edged.peers.runner import ItemResult, Runner
from edged.vision.lfw import LfwError, Pair, evaluate, read_pairs

log = logging.getLogger(__name__)

MASKS = Path("masks/face_mask_detection_853")
VIDEO = Path("video/chokepoint/portal_walk_1.mp4")


class BenchError(Exception):
    pass


@dataclass
class Options:
    data_dir: Path
    pipelines: list[str]
    folds: int = 10
    masked_folds: int = 10
    frames: int = 100
    mask_images: int | None = None
    min_face_px: float = 40.0
    workers: int = 1
    pairs_per_fold: int | None = None  # first N/2 genuine + N/2 impostor pairs of each fold (quick runs)


@dataclass
class Curves:
    """What the plots need and the JSON does not carry: pair scores and every timing."""

    lfw: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # name → (scores, same)
    masked: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    times: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # block → name → ms


def stats(ms: list[float]) -> dict[str, float | None]:
    if not ms:
        return {"mean": None, "median": None, "p90": None}
    a = np.asarray(ms)
    return {"mean": float(a.mean()), "median": float(np.median(a)), "p90": float(np.percentile(a, 90))}


def check_data(opts: Options) -> None:
    for rel in (Path("lfw/pairs.txt"), MASKS / "annotations", VIDEO):
        if not (opts.data_dir / rel).exists():
            raise BenchError(
                f"{opts.data_dir / rel}: missing (evaluation data; set --data or EDGED_SHARED_DATA)"
            )
    unknown = sorted(set(opts.pipelines) - set(FACTORIES))
    if unknown or "edged" not in opts.pipelines:
        raise BenchError(f"--pipelines must include edged and name only {', '.join(FACTORIES)}")
    if not 1 <= opts.folds <= 10 or not 0 <= opts.masked_folds <= opts.folds:
        raise BenchError("--folds must be 1..10 and --masked-folds 0..--folds")
    if opts.pairs_per_fold is not None and opts.pairs_per_fold < 2:
        raise BenchError("--pairs-per-fold must be at least 2 (one genuine, one impostor)")


def subsample(pairs: list[Pair], per_fold: int | None) -> list[Pair]:
    if per_fold is None:
        return pairs
    taken: dict[tuple[int, bool], int] = {}
    out = []
    for p in pairs:
        n = taken.get((p.fold, p.same), 0)
        if n < per_fold // 2:
            out.append(p)
            taken[(p.fold, p.same)] = n + 1
    return out


def pair_scores(name: str, pairs: list[Pair], a: dict[str, Any], b: dict[str, Any]) -> tuple[np.ndarray, int]:
    """Similarity per pair; a pair with a missed face gets a score below every real one (a reject)."""
    sim = FACTORIES[name].similarity
    raw = [
        None if a.get(str(p.a)) is None or b.get(str(p.b)) is None else sim(a[str(p.a)], b[str(p.b)])
        for p in pairs
    ]
    real = [s for s in raw if s is not None]
    floor = (min(real) if real else 0.0) - 1.0
    return np.array([floor if s is None else s for s in raw]), sum(s is None for s in raw)


def by_pipeline(results: list[ItemResult], name: str, attr: str) -> dict[str, Any]:
    return {r.key: getattr(r.by_pipeline[name], attr) for r in results if name in r.by_pipeline}


def times_of(results: list[ItemResult], name: str) -> list[float]:
    return [r.by_pipeline[name].ms for r in results if name in r.by_pipeline]


def lfw_block(
    out: dict[str, dict[str, Any]],
    curves: Curves,
    pairs: list[Pair],
    results: list[ItemResult],
    thresholds: dict[str, float | None],
) -> None:
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    for name, rec in out.items():
        t = times_of(results, name)
        curves.times.setdefault("lfw", {})[name] = t
        s = stats(t)
        rec.update(
            {"ms_per_image": s["mean"], "ms_per_image_median": s["median"], "ms_per_image_p90": s["p90"]}
        )
        if not FACTORIES[name].can_embed:
            boxes = by_pipeline(results, name, "boxes")
            rec.update(
                {
                    "ms_per_image_measures": "detection only (no embedder)",
                    "lfw_faces_missed": sum(1 for b in boxes.values() if len(b) == 0),
                    "lfw_images": len(boxes),
                    "lfw_accuracy": None,
                    "lfw_tar_at_far_1e-3": None,
                }
            )
            continue
        emb = by_pipeline(results, name, "embedding")
        scores, missed_pairs = pair_scores(name, pairs, emb, emb)
        ev = evaluate(scores, same, folds, fixed_threshold=thresholds[name])
        curves.lfw[name] = (scores, same)
        rec.update(
            {
                "ms_per_image_measures": "detect + embed the central face, image already decoded",
                "lfw_accuracy": ev["accuracy"],
                "lfw_accuracy_std": ev["accuracy_std"],
                "lfw_tar_at_far_1e-3": ev["tar_at_far"]["0.001"],
                "lfw_tar_at_far_1e-2": ev["tar_at_far"]["0.01"],
                "lfw_threshold_source": ev["threshold_source"],
                "lfw_faces_missed": sum(1 for v in emb.values() if v is None),
                "lfw_images": len(emb),
                "lfw_pairs": len(pairs),
                "lfw_pairs_with_missed_face": missed_pairs,
            }
        )


def masked_block(
    out: dict[str, dict[str, Any]],
    curves: Curves,
    pairs: list[Pair],
    plain: list[ItemResult],
    probes: list[ItemResult],
    thresholds: dict[str, float | None],
) -> None:
    """Masked probes go through each pipeline's plain path, edged's included: its masked-face head was
    trained on LFW, so only ``edged eval lfw --mask-probe`` (which retrains it per fold) may score it."""
    usable = {r.key for r in probes if r.skipped is None}
    kept = [p for p in pairs if str(p.b) in usable]
    same = np.array([p.same for p in kept])
    folds = np.array([p.fold for p in kept])
    for name, rec in out.items():
        t = times_of(probes, name)
        curves.times.setdefault("masked_lfw", {})[name] = t
        rec["masked_lfw_ms_per_image"] = stats(t)["mean"]
        if not FACTORIES[name].can_embed:
            boxes = by_pipeline(probes, name, "boxes")
            rec["masked_lfw_faces_missed"] = sum(1 for b in boxes.values() if len(b) == 0)
            rec["masked_lfw_accuracy"] = rec["masked_lfw_tar_at_far_1e-3"] = None
            continue
        masked_emb = by_pipeline(probes, name, "embedding")
        scores, _ = pair_scores(name, kept, by_pipeline(plain, name, "embedding"), masked_emb)
        ev = evaluate(scores, same, folds, fixed_threshold=thresholds[name])
        curves.masked[name] = (scores, same)
        rec.update(
            {
                "masked_lfw_accuracy": ev["accuracy"],
                "masked_lfw_accuracy_std": ev["accuracy_std"],
                "masked_lfw_tar_at_far_1e-3": ev["tar_at_far"]["0.001"],
                "masked_lfw_faces_missed": sum(1 for v in masked_emb.values() if v is None),
                "masked_lfw_pairs": len(kept),
                "masked_lfw_pairs_skipped": len(pairs) - len(kept),
            }
        )


def detection_block(
    out: dict[str, dict[str, Any]],
    curves: Curves,
    annotated: list[maskset.Annotated],
    results: list[ItemResult],
    min_face_px: float,
) -> None:
    readable = [i for i, r in enumerate(results) if r.skipped is None]
    for name, rec in out.items():
        t = times_of(results, name)
        curves.times.setdefault("mask_photos", {})[name] = t
        boxes = [results[i].by_pipeline[name].boxes for i in readable]
        dets = [np.zeros((0, 4)) if d is None else np.asarray(d).reshape(-1, 4) for d in boxes]
        photos = [annotated[i] for i in readable]
        sc = maskset.score(photos, dets, min_face_px)
        cut = maskset.score(photos, [d[d[:, 2] - d[:, 0] >= min_face_px] for d in dets], min_face_px)
        corr, raw, cut_corr = sc["corrected"], sc["raw"], cut["corrected"]
        assert isinstance(corr, dict) and isinstance(raw, dict) and isinstance(cut_corr, dict)
        rec.update(
            {
                "mask_detection_recall": corr["recall"].get("with_mask_big"),
                "mask_detection_recall_all_sizes": corr["recall"].get("with_mask"),
                "mask_detection_recall_raw_boxes": raw["recall"].get("with_mask_big"),
                "mask_detection_recall_boxes_cut_at_min_px": cut_corr["recall"].get("with_mask_big"),
                "unmasked_detection_recall": corr["recall"].get("without_mask_big"),
                "mask_detection_precision": corr["precision"],
                "mask_photo_detect_ms": stats(t)["mean"],
                "mask_photos": len(readable),
                "mask_photo_detail": sc,
            }
        )


def video_block(out: dict[str, dict[str, Any]], curves: Curves, results: list[ItemResult]) -> None:
    for name, rec in out.items():
        t = times_of(results, name)
        curves.times.setdefault("video", {})[name] = t
        counts = [len(b) for b in by_pipeline(results, name, "boxes").values()]
        s = stats(t)
        rec.update(
            {
                "video_detect_ms": s["mean"],
                "video_detect_ms_p90": s["p90"],
                "video_frames": len(counts),
                "video_faces_per_frame": float(np.mean(counts)) if counts else None,
                "video_frames_with_face": sum(c > 0 for c in counts),
            }
        )


TIME_KEYS = ("ms_per_image", "masked_lfw_ms_per_image", "mask_photo_detect_ms", "video_detect_ms")


def ratios(out: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """edged's time ÷ the peer's, per measure (below 1: edged is faster); LFW only where both embed."""
    e = out["edged"]
    res: dict[str, dict[str, float | None]] = {}
    for name, rec in out.items():
        if name == "edged":
            continue
        r: dict[str, float | None] = {}
        for key in TIME_KEYS:
            if key in ("ms_per_image", "masked_lfw_ms_per_image") and not FACTORIES[name].can_embed:
                continue
            a, b = e.get(key), rec.get(key)
            r[key] = a / b if a and b else None
        lfw = r.get("ms_per_image")
        r["speedup_per_image"] = 1.0 / lfw if lfw else None
        res[name] = r
    return res


def run(opts: Options, settings: Settings) -> tuple[dict[str, Any], Curves]:
    check_data(opts)
    t0 = time.monotonic()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load0 = os.getloadavg()
    try:
        pairs = [p for p in read_pairs(opts.data_dir / "lfw") if p.fold < opts.folds]
        pairs = subsample(pairs, opts.pairs_per_fold)
        annotated = maskset.read_set(opts.data_dir / MASKS, opts.mask_images)
    except (LfwError, maskset.MaskSetError) as exc:
        raise BenchError(str(exc)) from None
    masked_pairs = [p for p in pairs if p.fold < opts.masked_folds]
    paths = sorted({p.a for p in pairs} | {p.b for p in pairs})
    probes = sorted({p.b for p in masked_pairs})
    thresholds = {
        n: (settings.vision.match_threshold if n in ("edged", "mtcnn") else FACTORIES[n].match_threshold)
        for n in opts.pipelines
    }
    out: dict[str, dict[str, Any]] = {n: {} for n in opts.pipelines}
    curves = Curves()
    runner = Runner(opts.pipelines, settings, opts.workers)
    try:
        lfw = runner.files("identify", paths, "LFW")
        lfw_block(out, curves, pairs, lfw, thresholds)
        if probes:
            masked = runner.files("identify", probes, "masked LFW", mask=True)
            masked_block(out, curves, masked_pairs, lfw, masked, thresholds)
        photos = runner.files("detect", [a.image for a in annotated], "mask photos")
        detection_block(out, curves, annotated, photos, opts.min_face_px)
        video_block(out, curves, runner.video(opts.data_dir / VIDEO, opts.frames))
    finally:
        runner.close()
    report: dict[str, Any] = dict(out)
    for name in opts.pipelines:
        report[name]["describe"] = FACTORIES[name].describe
    report["ratios"] = ratios(out)
    report["run"] = {
        "started_utc": started,
        "wall_s": round(time.monotonic() - t0, 1),
        "folds": opts.folds,
        "masked_folds": opts.masked_folds,
        "pairs_per_fold": opts.pairs_per_fold,
        "frames": opts.frames,
        "mask_photos_limit": opts.mask_images,
        "min_face_px": opts.min_face_px,
        "workers": opts.workers,
        "threads_per_pipeline": settings.threads,
        "cpu_count": os.cpu_count(),
        "load_average_start": [round(v, 2) for v in load0],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    return report, curves
