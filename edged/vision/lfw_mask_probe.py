"""``edged eval lfw --mask-probe``: LFW View 2 with the second image of every pair wearing a synthetic mask.

Per test fold k (LFW's folds are person-disjoint): the masked-probe adapter is trained on the images of
``train_folds`` other folds, the thresholds are chosen on one further fold that is neither trained on nor
tested (the calibration fold, k+1), and fold k is scored once: the test fold's people are never seen.
The mask classifier decides each probe's path: a face it calls masked (or worn incorrectly) goes through
the adapter and the masked threshold; one it calls unmasked goes the plain way with the plain threshold.
Scores are reported as margins over their path's threshold, so the pooled TAR at FAR is on one scale.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edged.vision.image_io import ImageError, load_image
from edged.vision.lfw import Pair, best_threshold, fold_summary, read_pairs
from edged.vision.lfw_run import find_face
from edged.vision.mask import MaskClassifier, classifier_crop
from edged.vision.masked.adapter import AdapterSettings, MaskedProbeAdapter
from edged.vision.masked.cache import ProbeCache, build
from edged.vision.masked.draw import draw_mask, style_for
from edged.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)
N_FOLDS = 10
MASKED_STATES = ("mask", "incorrect")
MISSING = -1.0  # score of a pair with a face missing (as in the plain evaluation)


def _person(key: str) -> str:
    return Path(key).parent.name


def masked_features(entry: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """What the adapter reads for a masked face: full-crop embedding, then upper-face embedding."""
    return np.concatenate([entry[0], entry[1]])


def train_adapter(
    keys: list[str], cache: ProbeCache, settings: AdapterSettings | None = None
) -> MaskedProbeAdapter:
    """Train on every masked image in ``keys`` with the unmasked embedding of the same image as its target;
    other images of the same person in a batch count as positives too."""
    usable = sorted({k for k in keys if cache.masked.get(k) is not None and cache.plain.get(k) is not None})
    x = np.stack([masked_features(cache.masked[k]) for k in usable])  # type: ignore[arg-type]
    u = np.stack([cache.plain[k] for k in usable])  # type: ignore[misc]
    people = {p: i for i, p in enumerate(sorted({_person(k) for k in usable}))}
    adapter = MaskedProbeAdapter(x.shape[1], settings)
    adapter.fit(x, u, np.array([people[_person(k)] for k in usable]))
    return adapter


@dataclass
class Verdicts:
    masked: dict[str, str]  # probe key → the classifier's state for the masked probe
    unmasked: dict[str, str]  # probe key → the classifier's state for the same image without the mask


def classify_probes(
    pipeline: FacePipeline,
    classifier: MaskClassifier,
    data_dir: Path,
    keys: list[str],
    cache: ProbeCache,
    variant: int = 0,
) -> Verdicts:
    """The classifier on every probe, with and without its mask (the mask redrawn exactly as cached)."""
    out = Verdicts({}, {})
    for k in keys:
        entry = cache.masked.get(k)
        try:
            bgr = load_image(data_dir / k)
        except ImageError:
            continue
        face = find_face(pipeline, bgr)
        if face is None or face.landmarks is None:
            continue
        masked_bgr = draw_mask(bgr, face.landmarks, style_for(k, variant))
        crops = [classifier_crop(bgr, face.box)] + ([classifier_crop(masked_bgr, entry[2])] if entry else [])
        probs = classifier.probabilities(crops)
        states = [("mask", "no_mask", "incorrect")[int(np.argmax(p))] for p in probs]
        out.unmasked[k] = states[0]
        if entry is not None:
            out.masked[k] = states[1]
    return out


def _plain_scores(
    pairs: list[Pair], keys: list[tuple[str, str]], cache: ProbeCache, masked_probe: bool
) -> np.ndarray:
    scores = np.full(len(pairs), MISSING)
    for i, (ka, kb) in enumerate(keys):
        a = cache.plain.get(ka)
        if masked_probe:
            entry = cache.masked.get(kb)
            b = None if entry is None else entry[0]
        else:
            b = cache.plain.get(kb)
        if a is not None and b is not None:
            scores[i] = float(np.dot(a, b))
    return scores


def _adapter_scores(
    adapter: MaskedProbeAdapter, idx: np.ndarray, keys: list[tuple[str, str]], cache: ProbeCache
) -> np.ndarray:
    scores = np.full(len(idx), MISSING)
    ok = [
        j
        for j, i in enumerate(idx)
        if cache.plain.get(keys[i][0]) is not None and cache.masked.get(keys[i][1]) is not None
    ]
    if ok:
        g = adapter.gallery(np.stack([cache.plain[keys[idx[j]][0]] for j in ok]))  # type: ignore[misc]
        p = adapter.probe(np.stack([masked_features(cache.masked[keys[idx[j]][1]]) for j in ok]))  # type: ignore[arg-type]
        scores[ok] = (g * p).sum(axis=1)
    return scores


def _summary(margins: np.ndarray, same: np.ndarray, folds: np.ndarray, tested: list[int]) -> dict[str, Any]:
    accs = [float(((margins[folds == k] >= 0) == same[folds == k]).mean()) for k in tested]
    return fold_summary(accs, margins, same, np.isin(folds, tested))


def run_mask_probe(
    pipeline: FacePipeline,
    data_dir: Path,
    folds: int = N_FOLDS,
    *,
    train_folds: int = 8,
    settings: AdapterSettings | None = None,
) -> dict[str, Any]:
    """Test folds 0..folds-1; each trained on ``train_folds`` folds after its calibration fold."""
    if not 1 <= train_folds <= N_FOLDS - 2:
        raise ValueError(f"train_folds must be 1..{N_FOLDS - 2}")
    data_dir = Path(data_dir)
    all_pairs = read_pairs(data_dir)
    tested = list(range(folds))
    needed = sorted({k for t in tested for k in [t, *_other_folds(t, train_folds)]})
    pairs = [p for p in all_pairs if p.fold in needed]
    keys = [(str(p.a.relative_to(data_dir)), str(p.b.relative_to(data_dir))) for p in pairs]
    t0 = time.perf_counter()
    cache = build(
        pipeline, data_dir, sorted({p.a for p in pairs} | {p.b for p in pairs}), sorted({p.b for p in pairs})
    )
    embed_s = time.perf_counter() - t0
    same = np.array([p.same for p in pairs])
    fold_of = np.array([p.fold for p in pairs])
    test_keys = sorted({kb for (_, kb), f in zip(keys, fold_of, strict=True) if f in tested})
    classifier = pipeline.mask_classifier if isinstance(pipeline.mask_classifier, MaskClassifier) else None
    verdicts = (
        classify_probes(pipeline, classifier, data_dir, test_keys, cache)
        if classifier is not None
        else Verdicts({k: "mask" for k in test_keys}, {k: "no_mask" for k in test_keys})
    )
    plain_unmasked = _plain_scores(pairs, keys, cache, masked_probe=False)
    plain_masked = _plain_scores(pairs, keys, cache, masked_probe=True)

    names = ("method", "adapter_only", "plain_masked", "unmasked", "unmasked_routed")
    margins = {name: np.full(len(pairs), np.nan) for name in names}
    thresholds: dict[str, list[float]] = {"masked": [], "plain": []}
    t1 = time.perf_counter()
    for k in tested:
        calib, train = _other_folds(k, train_folds)[0], _other_folds(k, train_folds)[1:]
        train_keys = [kk for (ka, kb), f in zip(keys, fold_of, strict=True) if f in train for kk in (ka, kb)]
        assert not (
            {_person(x) for x in train_keys}
            & {_person(x) for (a, b), f in zip(keys, fold_of, strict=True) if f == k for x in (a, b)}
        ), "test fold people in training"
        adapter = train_adapter(train_keys, cache, settings)
        cal, test = np.flatnonzero(fold_of == calib), np.flatnonzero(fold_of == k)
        t_masked = best_threshold(_adapter_scores(adapter, cal, keys, cache), same[cal])
        t_plain = best_threshold(plain_unmasked[cal], same[cal])
        t_plain_masked = best_threshold(plain_masked[cal], same[cal])
        thresholds["masked"].append(t_masked)
        thresholds["plain"].append(t_plain)
        adapted = _adapter_scores(adapter, test, keys, cache) - t_masked
        routed = np.array([verdicts.masked.get(keys[i][1], "mask") in MASKED_STATES for i in test])
        margins["method"][test] = np.where(routed, adapted, plain_masked[test] - t_plain)
        margins["adapter_only"][test] = adapted
        margins["plain_masked"][test] = plain_masked[test] - t_plain_masked
        margins["unmasked"][test] = plain_unmasked[test] - t_plain
        unmasked_routed = np.array(
            [verdicts.unmasked.get(keys[i][1], "no_mask") in MASKED_STATES for i in test]
        )
        adapted_plain = _adapter_scores_unmasked(adapter, test, keys, cache) - t_masked
        margins["unmasked_routed"][test] = np.where(
            unmasked_routed, adapted_plain, plain_unmasked[test] - t_plain
        )
    train_s = time.perf_counter() - t1

    result = _summary(margins["method"], same, fold_of, tested)
    n_test = int(np.isin(fold_of, tested).sum())
    probes_masked = [verdicts.masked.get(k) for k in test_keys]
    probes_unmasked = [verdicts.unmasked.get(k) for k in test_keys]
    result.update(
        {
            "thresholds": thresholds["masked"],
            "threshold_source": "calibration fold (k+1), neither trained on nor tested",
            "plain_thresholds": thresholds["plain"],
            "pairs": n_test,
            "folds": folds,
            "train_folds": train_folds,
            "images": len(
                {x for (a, b), f in zip(keys, fold_of, strict=True) if f in tested for x in (a, b)}
            ),
            "missed": sum(
                1
                for (a, b), f in zip(keys, fold_of, strict=True)
                if f in tested and (cache.plain.get(a) is None or cache.masked.get(b) is None)
            ),
            "images_per_second": len(cache.plain) / embed_s if embed_s > 0 else 0.0,
            "training_seconds": train_s,
            "method": "adapter (masked + upper-face embedding → unmasked space, contrastive, per fold); "
            "classifier-routed; masked threshold",
            "adapter_only": _summary(margins["adapter_only"], same, fold_of, tested),
            "baseline_plain": _summary(margins["plain_masked"], same, fold_of, tested),
            "unmasked": _summary(margins["unmasked"], same, fold_of, tested),
            "unmasked_routed": _summary(margins["unmasked_routed"], same, fold_of, tested),
            "routing": {
                "classifier": classifier is not None,
                "masked_probes_to_adapter": sum(s in MASKED_STATES for s in probes_masked),
                "masked_probes_to_plain": sum(s == "no_mask" for s in probes_masked),
                "unmasked_probes_to_adapter": sum(s in MASKED_STATES for s in probes_unmasked),
                "unmasked_probes_to_plain": sum(s == "no_mask" for s in probes_unmasked),
            },
        }
    )
    return result


def _adapter_scores_unmasked(
    adapter: MaskedProbeAdapter, idx: np.ndarray, keys: list[tuple[str, str]], cache: ProbeCache
) -> np.ndarray:
    """The adapter fed an unmasked probe (what happens when the classifier wrongly says 'mask'): its plain
    embedding twice, as the upper-face embedding of an unmasked face is not cached."""
    scores = np.full(len(idx), MISSING)
    ok = [
        j
        for j, i in enumerate(idx)
        if cache.plain.get(keys[i][0]) is not None and cache.plain.get(keys[i][1]) is not None
    ]
    if ok:
        g = adapter.gallery(np.stack([cache.plain[keys[idx[j]][0]] for j in ok]))  # type: ignore[misc]
        probe = np.stack([np.concatenate([cache.plain[keys[idx[j]][1]]] * 2) for j in ok])
        scores[ok] = (g * adapter.probe(probe)).sum(axis=1)
    return scores


def _other_folds(k: int, train_folds: int) -> list[int]:
    """[calibration fold, training folds...] for test fold k."""
    return [(k + 1 + i) % N_FOLDS for i in range(train_folds + 1)]
