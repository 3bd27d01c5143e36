"""``edged eval lfw --mask-probe``: LFW View 2 with the second image of every pair wearing a synthetic mask.

Per test fold k (LFW's folds are person-disjoint): the masked-face head is trained on the images of
``train_folds`` other folds, the thresholds are chosen on one further fold that is neither trained on nor
tested (the calibration fold, k+1), and fold k is scored once: the test fold's people are never seen.
The mask classifier decides each probe's path: a face it calls masked (or worn incorrectly) is embedded
by the head and compared against the masked threshold; one it calls unmasked goes the plain way with the
plain threshold. Scores are reported as margins over their path's threshold, so the pooled TAR at FAR is
on one scale. ``calibration`` reports the head on the calibration folds against the threshold chosen there:
optimistic, but it lets a change of recipe be judged without looking at the test folds.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edged.models import verified_path
from edged.vision.image_io import ImageError, load_image
from edged.vision.lfw import best_threshold, fold_summary, read_pairs
from edged.vision.lfw_run import find_face
from edged.vision.mask import CLASSES, MaskClassifier
from edged.vision.masked.cache import ProbeCache, build
from edged.vision.masked.draw import draw_mask, style_for
from edged.vision.masked.head import HeadSettings, MaskedHead, embedder_params, soup_of
from edged.vision.pipeline import MASKED_STATES, FacePipeline

log = logging.getLogger(__name__)
N_FOLDS = 10
PROBE_VARIANT = 0  # the mask the probes wear; every variant trains the head
MISSING = -1.0  # score of a pair with a face missing (as in the plain evaluation)


def _person(key: str) -> str:
    return Path(key).parent.name


def train_heads(
    keys: list[str],
    cache: ProbeCache,
    start: dict[str, np.ndarray],
    settings: HeadSettings | None = None,
) -> list[MaskedHead]:
    """The members of the soup: one head per seed ``settings.seed`` .. ``settings.seed + settings.soup - 1``,
    each trained on the first ``settings.mask_variants`` masked variants of every image in ``keys``, with the
    unmasked embedding of the same image as its target; other images of the same person count as positives
    too, every other person's as negatives (``MaskedHead.fit``)."""
    settings = settings or HeadSettings()
    feats, targets, people = [], [], []
    for k in sorted(set(keys)):
        plain = cache.plain.get(k)
        for v in range(settings.mask_variants):
            masked = cache.masked[v].get(k)
            if masked is not None and plain is not None:
                feats.append(masked.feat)
                targets.append(plain.emb)
                people.append(_person(k))
    index = {p: i for i, p in enumerate(sorted(set(people)))}
    x, u = np.stack(feats).astype(np.float32), np.stack(targets)
    ids = np.array([index[p] for p in people])
    members = []
    for i in range(settings.soup):
        member = dataclasses.replace(settings, seed=settings.seed + i, soup=1)
        head = MaskedHead(start, member, grey=cache.grey)
        head.fit(x, u, ids)
        members.append(head)
    return members


def train_head(
    keys: list[str],
    cache: ProbeCache,
    start: dict[str, np.ndarray],
    settings: HeadSettings | None = None,
) -> MaskedHead:
    """The head of ``settings``: its soup members (``train_heads``) averaged, or the single head."""
    return soup_of(train_heads(keys, cache, start, settings))


@dataclass
class Verdicts:
    masked: dict[str, str]  # probe key → the classifier's state for the masked probe
    unmasked: dict[str, str]  # probe key → the classifier's state for the same image without the mask


def classify_probes(
    pipeline: FacePipeline, classifier: MaskClassifier, data_dir: Path, keys: list[str], cache: ProbeCache
) -> Verdicts:
    """The classifier on every probe, with and without its mask (the mask redrawn exactly as cached)."""
    out = Verdicts({}, {})
    for k in keys:
        entry = cache.masked[PROBE_VARIANT].get(k)
        try:
            bgr = load_image(data_dir / k)
        except ImageError:
            continue
        face = find_face(pipeline, bgr)
        if face is None or face.landmarks is None:
            continue
        masked_bgr = draw_mask(bgr, face.landmarks, style_for(k, PROBE_VARIANT))
        crops = [classifier.crop(bgr, face.box)]
        if entry is not None and entry.box is not None:
            crops.append(classifier.crop(masked_bgr, entry.box))
        states = [CLASSES[int(np.argmax(p))] for p in classifier.probabilities(crops)]
        out.unmasked[k] = states[0]
        if len(states) == 2:
            out.masked[k] = states[1]
    return out


def _scores(
    pairs: list[tuple[str, str]], cache: ProbeCache, *, masked_probe: bool, head: MaskedHead | None = None
) -> np.ndarray:
    """Cosine of each (gallery, probe) pair: the gallery unmasked, the probe masked or not, embedded by the
    plain embedder or by ``head``; MISSING where a face was not found."""
    scores = np.full(len(pairs), MISSING)
    probes = cache.masked[PROBE_VARIANT] if masked_probe else cache.plain
    ok = [i for i, (a, b) in enumerate(pairs) if cache.plain.get(a) is not None and probes.get(b) is not None]
    if ok:
        gallery = np.stack([cache.plain[pairs[i][0]].emb for i in ok])  # type: ignore[union-attr]
        if head is None:
            probe = np.stack([probes[pairs[i][1]].emb for i in ok])  # type: ignore[union-attr]
        else:
            probe = head.embed(np.stack([probes[pairs[i][1]].feat for i in ok]).astype(np.float32))  # type: ignore[union-attr]
        scores[ok] = (gallery * probe).sum(axis=1)
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
    settings: HeadSettings | None = None,
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
    settings = settings or HeadSettings()
    images = sorted({p.a for p in pairs} | {p.b for p in pairs})
    # only the images a head trains on wear every mask variant; the probes wear variant 0 alone
    trained = {t for k in tested for t in _other_folds(k, train_folds)[1:]}
    train_images = {x for p in pairs if p.fold in trained for x in (p.a, p.b)}
    cache = build(pipeline, data_dir, images, settings.mask_variants, all_variants=train_images)
    embed_s = time.perf_counter() - t0
    start = embedder_params(onnx.load(str(verified_path(pipeline.models_dir, "fr_feature.onnx"))))
    same = np.array([p.same for p in pairs])
    fold_of = np.array([p.fold for p in pairs])
    test_keys = sorted({kb for (_, kb), f in zip(keys, fold_of, strict=True) if f in tested})
    classifier = pipeline.mask_classifier if isinstance(pipeline.mask_classifier, MaskClassifier) else None
    verdicts = (
        classify_probes(pipeline, classifier, data_dir, test_keys, cache)
        if classifier is not None
        else Verdicts({k: "mask" for k in test_keys}, {k: "no_mask" for k in test_keys})
    )
    plain_unmasked = _scores(keys, cache, masked_probe=False)
    plain_masked = _scores(keys, cache, masked_probe=True)

    names = ("method", "head_only", "plain_masked", "unmasked", "unmasked_routed", "calibration")
    margins = {name: np.full(len(pairs), np.nan) for name in names}
    thresholds: dict[str, list[float]] = {"masked": [], "plain": []}
    # each soup member scored alone (none for a single head)
    member_margins = [
        {"method": np.full(len(pairs), np.nan), "calibration": np.full(len(pairs), np.nan)}
        for _ in range(settings.soup if settings.soup > 1 else 0)
    ]
    t1 = time.perf_counter()
    for k in tested:
        calib, train = _other_folds(k, train_folds)[0], _other_folds(k, train_folds)[1:]
        train_keys = [kk for (ka, kb), f in zip(keys, fold_of, strict=True) if f in train for kk in (ka, kb)]
        assert not (
            {_person(x) for x in train_keys}
            & {_person(x) for (a, b), f in zip(keys, fold_of, strict=True) if f == k for x in (a, b)}
        ), "test fold people in training"
        members = train_heads(train_keys, cache, start, settings)
        head = soup_of(members)
        cal, test = np.flatnonzero(fold_of == calib), np.flatnonzero(fold_of == k)
        test_pairs = [keys[i] for i in test]
        cal_pairs = [keys[i] for i in cal]
        t_plain = best_threshold(plain_unmasked[cal], same[cal])
        t_plain_masked = best_threshold(plain_masked[cal], same[cal])
        routed = np.array([verdicts.masked.get(b, "mask") in MASKED_STATES for _, b in test_pairs])
        t_masked, calibrating, headed = _judged(head, cache, cal_pairs, same[cal], test_pairs)
        margins["calibration"][cal] = calibrating
        thresholds["masked"].append(t_masked)
        thresholds["plain"].append(t_plain)
        unrouted = plain_masked[test] - t_plain  # masked probes the classifier calls unmasked
        margins["method"][test] = np.where(routed, headed, unrouted)
        margins["head_only"][test] = headed
        for member, scored in zip(members, member_margins, strict=False):  # no scoring for one head
            _, member_cal, member_test = _judged(member, cache, cal_pairs, same[cal], test_pairs)
            scored["calibration"][cal] = member_cal
            scored["method"][test] = np.where(routed, member_test, unrouted)
        margins["plain_masked"][test] = plain_masked[test] - t_plain_masked
        margins["unmasked"][test] = plain_unmasked[test] - t_plain
        # an unmasked probe the classifier wrongly calls masked is embedded by the head
        misrouted = np.array([verdicts.unmasked.get(b, "no_mask") in MASKED_STATES for _, b in test_pairs])
        headed_unmasked = _scores(test_pairs, cache, masked_probe=False, head=head) - t_masked
        margins["unmasked_routed"][test] = np.where(
            misrouted, headed_unmasked, plain_unmasked[test] - t_plain
        )
    train_s = time.perf_counter() - t1

    result = _summary(margins["method"], same, fold_of, tested)
    probes_masked = [verdicts.masked.get(k) for k in test_keys]
    probes_unmasked = [verdicts.unmasked.get(k) for k in test_keys]
    probe_store = cache.masked[PROBE_VARIANT]
    result.update(
        {
            "thresholds": thresholds["masked"],
            "threshold_source": "calibration fold (k+1), neither trained on nor tested",
            "plain_thresholds": thresholds["plain"],
            "pairs": int(np.isin(fold_of, tested).sum()),
            "folds": folds,
            "train_folds": train_folds,
            "images": len(
                {x for (a, b), f in zip(keys, fold_of, strict=True) if f in tested for x in (a, b)}
            ),
            "missed": sum(
                1
                for (a, b), f in zip(keys, fold_of, strict=True)
                if f in tested and (cache.plain.get(a) is None or probe_store.get(b) is None)
            ),
            "images_per_second": len(cache.plain) / embed_s if embed_s > 0 else 0.0,
            "training_seconds": train_s,
            "head_seed": settings.seed,
            "head_tail_average": settings.tail_average,
            "head_epochs": settings.epochs,
            "head_mask_variants": settings.mask_variants,
            "head_margin": settings.margin,
            "head_soup": settings.soup,
            "method": "masked-face head (embedder's last layers retrained on synthetic-masked faces, "
            "contrastive, per fold); classifier-routed; masked threshold",
            "head_only": _summary(margins["head_only"], same, fold_of, tested),
            "calibration": _summary(
                margins["calibration"], same, fold_of, [_other_folds(k, train_folds)[0] for k in tested]
            ),
            "baseline_plain": _summary(margins["plain_masked"], same, fold_of, tested),
            "unmasked": _summary(margins["unmasked"], same, fold_of, tested),
            "unmasked_routed": _summary(margins["unmasked_routed"], same, fold_of, tested),
            "routing": {
                "classifier": classifier is not None,
                "masked_probes_to_head": sum(s in MASKED_STATES for s in probes_masked),
                "masked_probes_to_plain": sum(s == "no_mask" for s in probes_masked),
                "unmasked_probes_to_head": sum(s in MASKED_STATES for s in probes_unmasked),
                "unmasked_probes_to_plain": sum(s == "no_mask" for s in probes_unmasked),
            },
        }
    )
    if member_margins:
        calibration_folds = [_other_folds(k, train_folds)[0] for k in tested]
        result["soup_members"] = [
            {
                "seed": settings.seed + i,
                **_summary(m["method"], same, fold_of, tested),
                "calibration": _summary(m["calibration"], same, fold_of, calibration_folds),
            }
            for i, m in enumerate(member_margins)
        ]
    return result


def _judged(
    head: MaskedHead,
    cache: ProbeCache,
    cal_pairs: list[tuple[str, str]],
    cal_same: np.ndarray,
    test_pairs: list[tuple[str, str]],
) -> tuple[float, np.ndarray, np.ndarray]:
    """``head``'s masked threshold chosen on the calibration pairs, and the calibration and test pairs'
    margins over it (masked probes embedded by the head)."""
    calibrating = _scores(cal_pairs, cache, masked_probe=True, head=head)
    threshold = best_threshold(calibrating, cal_same)
    tested = _scores(test_pairs, cache, masked_probe=True, head=head)
    return threshold, calibrating - threshold, tested - threshold


def _other_folds(k: int, train_folds: int) -> list[int]:
    """[calibration fold, training folds...] for test fold k."""
    return [(k + 1 + i) % N_FOLDS for i in range(train_folds + 1)]
