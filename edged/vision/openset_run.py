"""``edged eval openset`` and ``edged calibrate threshold``: every image of the LFW copy through the face
pipeline, then the open-set figures of ``openset.py``.

Embeddings: with masked probes (the default) every image is embedded once plain and once wearing the
probe's synthetic mask through the masked-probe cache (``masked/cache.py``: the pipeline's detector,
landmarks and alignment, the pinned embedder with the pipeline's flip/grey options, keyed on all of them).
Without masked probes, or for an embedder other than the one the masked-face head is built on, the plain
embeddings come from the pipeline's own ``embed`` (``lfw_run.embed_paths``) and are cached under a key of
the embedder's weights and options.

Masked probes are routed as at the gate: the mask classifier's verdict on the masked probe decides whether
the masked-face head or the plain embedder embeds it, and which threshold it is judged against. The shipped
head has seen every LFW person, so here each probe is embedded by a head of the shipped recipe trained on
the people of the *other* folds (``HEAD_FOLDS`` folds of identities, cross-fitted): no probe is embedded by
a head that saw its person.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from edged.identity.operating_point import Calibration
from edged.vision import openset as os_
from edged.vision.lfw import LfwError
from edged.vision.masked.cache import ProbeCache, Store, build, cache_dir, fingerprint
from edged.vision.pipeline import MASKED_STATES, FacePipeline

log = logging.getLogger(__name__)
HEAD_FOLDS = 3
VERDICT_CHUNK = 500


def lfw_images(data_dir: Path, max_identities: int | None = None, seed: int = 0) -> list[Path]:
    """Every image of the copy (``lfw-deepfunneled/<person>/*.jpg``), or those of ``max_identities`` people
    drawn at random (seeded)."""
    root = Path(data_dir) / "lfw-deepfunneled"
    if not root.is_dir():
        raise LfwError(f"{root}: not a folder (expected the LFW copy with lfw-deepfunneled/)")
    people = sorted(p for p in root.iterdir() if p.is_dir())
    if max_identities is not None and max_identities < len(people):
        rng = np.random.default_rng([seed, 0x0E])
        people = [people[i] for i in sorted(rng.choice(len(people), max_identities, replace=False))]
    paths = [f for p in people for f in sorted(p.glob("*.jpg"))]
    if not paths:
        raise LfwError(f"{root}: no images")
    return paths


def _openset_cache() -> Path:
    return cache_dir().parent / "openset"


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def probe_verdicts(
    pipeline: FacePipeline, data_dir: Path, keys: list[str], cache: ProbeCache
) -> dict[str, str]:
    """The mask classifier's state for each masked probe (variant 0), cached beside the embeddings; "mask"
    for every probe when no classifier is installed (then every masked face would go to the head... and
    none would at the gate: without a classifier there is no routing, so the caller reports that)."""
    from edged.vision.lfw_mask_probe import classify_probes
    from edged.vision.mask import MODEL_PATH, MaskClassifier

    classifier = pipeline.mask_classifier
    if not isinstance(classifier, MaskClassifier):
        return {}
    path = _openset_cache() / f"{fingerprint(pipeline)}-{_file_digest(MODEL_PATH)}-verdicts.json"
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    todo = [k for k in keys if k not in known]
    for start in range(0, len(todo), VERDICT_CHUNK):
        chunk = todo[start : start + VERDICT_CHUNK]
        got = classify_probes(pipeline, classifier, Path(data_dir), chunk, cache)
        known.update({k: got.masked.get(k, "none") for k in chunk})  # "none": no masked face found
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        tmp.replace(path)
        log.warning("mask verdicts: %d / %d", start + len(chunk), len(todo))
    return {k: known[k] for k in keys}


def masked_inputs(
    pipeline: FacePipeline, data_dir: Path, paths: list[Path]
) -> tuple[ProbeCache, dict[str, str]]:
    """Plain and probe-masked embeddings and feature maps of ``paths``, and the classifier's verdicts."""
    cache = build(pipeline, Path(data_dir), paths, 1)
    keys = [str(p.relative_to(data_dir)) for p in paths]
    return cache, probe_verdicts(pipeline, data_dir, keys, cache)


def plain_embeddings(
    pipeline: FacePipeline, data_dir: Path, paths: list[Path]
) -> dict[str, np.ndarray | None]:
    """The pipeline's own embedding of each image (``None``: no face), cached under the embedder's weights,
    its options and the detector's settings."""
    from edged.identity.gallery import embedder_tag
    from edged.vision import align, landmarks, lfw_run

    engine = pipeline.embedder.engine
    name = str(getattr(engine, "name", type(engine).__name__))
    model = Path(pipeline.models_dir) / f"{name}.onnx"
    h = hashlib.sha256()
    for part in (
        f"embedder={name} weights={_file_digest(model) if model.exists() else 'unknown'} "
        f"tag={embedder_tag(pipeline.config)} flip={pipeline.embedder.flip} grey={pipeline.embedder.grey} "
        f"mirror={pipeline.landmarks.mirror} detector={pipeline.detector.config!r} "
        f"retry={lfw_run.RETRY_SCORE}",
        *(Path(str(m.__file__)).read_text() for m in (align, landmarks)),
    ):
        h.update(part.encode())
    store = Store.open(_openset_cache() / f"{h.hexdigest()[:16]}-plain.npz", ("emb",))
    known = set(store.keys)
    keys = {p: str(p.relative_to(data_dir)) for p in paths}
    todo = [p for p in paths if keys[p] not in known]
    for start in range(0, len(todo), 250):
        chunk = todo[start : start + 250]
        for p, e in lfw_run.embed_paths(pipeline, chunk).items():
            store.add(keys[p], e is not None, {} if e is None else {"emb": e})
        store.save()
    if not todo:
        store.save()
    rows = {k: r for r, k in enumerate(store.keys)}
    return {
        keys[p]: (store.arrays["emb"][rows[keys[p]]] if store.found[rows[keys[p]]] else None) for p in paths
    }


def _is_head_embedder(pipeline: FacePipeline) -> bool:
    """The masked-face head is the last layers of fr_feature: masked probes only make sense with it."""
    return str(getattr(pipeline.embedder.engine, "name", "")) == "fr_feature"


def head_embeddings(
    pipeline: FacePipeline, cache: ProbeCache, keys: list[str], person: dict[str, str], seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The masked probe (variant 0) of every key embedded by a head of the shipped recipe trained on the
    people of the other ``HEAD_FOLDS`` folds (cached: training takes minutes)."""
    import onnx

    from edged.models import verified_path
    from edged.vision.lfw_mask_probe import train_head
    from edged.vision.masked.head import HeadSettings, embedder_params

    settings = dataclasses.replace(HeadSettings(), mask_variants=1)
    people = sorted(set(person.values()))
    order = np.random.default_rng([seed, 0x4EAD]).permutation(len(people))
    fold_of = {people[j]: int(i % HEAD_FOLDS) for i, j in enumerate(order)}
    info = {
        "folds": HEAD_FOLDS,
        "recipe": dataclasses.asdict(settings),
        "trained_on": "the probe masks (variant 0) of the people of the other folds: no probe is embedded by "
        "a head that saw its person",
    }
    digest = hashlib.sha256(
        json.dumps([info, sorted(keys), fingerprint(pipeline)], sort_keys=True).encode()
    ).hexdigest()[:16]
    path = _openset_cache() / f"heads-{digest}.npz"
    if path.exists():
        with np.load(path) as z:
            return {str(k): v for k, v in zip(z["keys"], z["emb"], strict=True)}, info
    start = embedder_params(onnx.load(str(verified_path(pipeline.models_dir, "fr_feature.onnx"))))
    probes = cache.masked[0]
    out: dict[str, np.ndarray] = {}
    for f in range(HEAD_FOLDS):
        train = [k for k in keys if fold_of[person[k]] != f]
        test = [k for k in keys if fold_of[person[k]] == f and probes.get(k) is not None]
        t0 = time.perf_counter()
        head = train_head(train, cache, start, settings)
        log.info("masked head for fold %d trained in %.0f s", f, time.perf_counter() - t0)
        if test:
            feats = np.stack([probes[k].feat for k in test]).astype(np.float32)  # type: ignore[union-attr]
            out.update(zip(test, head.embed(feats), strict=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    names = sorted(out)
    np.savez(
        tmp, keys=np.array(names), emb=np.stack([out[k] for k in names]) if names else np.zeros((0, 512))
    )
    tmp.replace(path)
    return out, info


@dataclasses.dataclass
class Images:
    """The images with a face: plain embedding, identity index; and each image's masked probe."""

    keys: list[str]
    emb: np.ndarray
    ident: np.ndarray
    names: list[str]  # identity index → person
    missed: list[str]
    masked: MaskedProbes | None


@dataclasses.dataclass
class MaskedProbes:
    emb: np.ndarray  # (n, 512) per image of ``Images`` (zeros where ``found`` is False)
    found: np.ndarray  # a face was found on the masked image
    head: np.ndarray  # routed to the masked-face head (else the plain embedder)
    offset: np.ndarray  # the threshold of its path
    routing: dict[str, int]
    head_info: dict[str, Any]


def embed_images(
    pipeline: FacePipeline, data_dir: Path, paths: list[Path], *, masked: bool, seed: int = 0
) -> Images:
    data_dir = Path(data_dir)
    keys_all = [str(p.relative_to(data_dir)) for p in paths]
    person = {k: Path(k).parent.name for k in keys_all}
    mp: dict[str, Any] = {}
    if masked:
        cache, verdicts = masked_inputs(pipeline, data_dir, paths)
        plain = {k: (None if c is None else c.emb) for k, c in cache.plain.items()}
        heads, head_info = head_embeddings(pipeline, cache, keys_all, person, seed)
        mp = {"cache": cache, "verdicts": verdicts, "heads": heads, "info": head_info}
    else:
        plain = plain_embeddings(pipeline, data_dir, paths)
    keys = [k for k in keys_all if plain.get(k) is not None]
    names = sorted({person[k] for k in keys})
    index = {n: i for i, n in enumerate(names)}
    vectors = [v for v in (plain[k] for k in keys) if v is not None]
    emb = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 512), np.float32)
    ident = np.array([index[person[k]] for k in keys], np.int64)
    images = Images(keys, emb, ident, names, [k for k in keys_all if plain.get(k) is None], None)
    if masked:
        cfg = pipeline.config
        probes = mp["cache"].masked[0]
        m_emb = np.zeros_like(emb)
        found = np.zeros(len(keys), bool)
        head = np.zeros(len(keys), bool)
        for i, k in enumerate(keys):
            face = probes.get(k)
            if face is None:
                continue
            found[i] = True
            routed = mp["verdicts"].get(k) in MASKED_STATES and k in mp["heads"]
            head[i] = routed
            m_emb[i] = mp["heads"][k] if routed else face.emb
        offset = np.where(head, cfg.masked_match_threshold, cfg.match_threshold).astype(np.float32)
        routing = {
            "classifier": bool(mp["verdicts"]),
            "to_head": int(head.sum()),
            "to_plain": int((found & ~head).sum()),
            "no_face_with_mask": int((~found).sum()),
        }
        images.masked = MaskedProbes(m_emb, found, head, offset, routing, mp["info"])
    return images


@dataclasses.dataclass
class Protocol:
    splits: int = 5
    enrolled_fraction: float = 0.75
    sizes: tuple[int, ...] = (100, 1000)
    margins: tuple[float, ...] = (0.0, 0.05, 0.1)
    target_fpir: float = 1e-2
    seed: int = 0
    draws: int = 200  # identity resamples for the intervals
    max_gallery_draws: int = 10  # galleries of N people drawn per split when N is below the enrolled count


def _side(images: Images, masked: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(probe embeddings, found, offset at the shipped point, routed to the head) of one side."""
    n = len(images.keys)
    if not masked:
        return images.emb, np.ones(n, bool), np.zeros(n, np.float32), np.zeros(n, bool)
    m = images.masked
    assert m is not None
    return m.emb, m.found, m.offset, m.head


def verification(images: Images, masked: bool, shipped: float) -> dict[str, Any]:
    """All cross pairs: TAR at each FAR (masked: gallery image unmasked, probe masked, excess over the
    probe's path threshold, every ordered pair of two images)."""
    n_ids = len(images.names)
    if not masked:
        ps = os_.cross_pairs(images.emb, images.ident, n_ids=n_ids)
    else:
        emb, found, offset, _ = _side(images, True)
        rows = np.flatnonzero(found)
        ps = os_.cross_pairs(
            images.emb,
            images.ident,
            probe=emb[rows],
            probe_id=images.ident[rows],
            probe_offset=offset[rows],
            probe_image=rows,
            gallery_image=np.arange(len(images.keys)),
            n_ids=n_ids,
        )
    tars = {key: os_.tar_at_far(ps, far) for key, far in os_.FARS.items()}
    for t in tars.values():  # thresholds in the cosine of the shipped path (unmasked: the cosine itself)
        if t["threshold_excess"] is not None:
            t["threshold"] = round(t["threshold_excess"] + (shipped if masked else 0.0), 5)
    return {
        "impostor_pairs": ps.impostor_pairs,
        "genuine_pairs": len(ps.genuine),
        "tar_at_far": {k: v["tar"] for k, v in tars.items()},
        "tar_at_far_detail": tars,
    }


def calibration_tails(
    images: Images, rows: np.ndarray | None = None
) -> tuple[os_.ImpostorTail, os_.ImpostorTail | None, dict[str, int]]:
    """Impostor tails from the images ``rows`` (default all): unmasked probes against unmasked images, and
    head-embedded masked probes against unmasked images (None without masked probes or with too few)."""
    rows = np.arange(len(images.keys)) if rows is None else rows
    n_ids = len(images.names)
    plain = os_.cross_pairs(images.emb[rows], images.ident[rows], n_ids=n_ids, keep_far=1e-6)
    pairs = {"unmasked": plain.impostor_pairs}
    masked_tail = None
    m = images.masked
    if m is not None:
        probe_rows = rows[m.head[rows] & m.found[rows]]
        if len(probe_rows) >= 2:
            ps = os_.cross_pairs(
                images.emb[rows],
                images.ident[rows],
                probe=m.emb[probe_rows],
                probe_id=images.ident[probe_rows],
                probe_image=probe_rows,
                gallery_image=rows,
                n_ids=n_ids,
                keep_far=1e-6,
            )
            if ps.impostor_pairs > 0:
                masked_tail = ps.tail()
                pairs["masked"] = ps.impostor_pairs
    return plain.tail(), masked_tail, pairs


def _split_trials(
    images: Images,
    protocol: Protocol,
    split: int,
    shipped: tuple[float, float],
    masked_sides: tuple[bool, ...],
) -> tuple[dict[bool, dict[str, os_.Trials]], dict[str, dict[str, float]]]:
    """One seeded split of the identities: for each gallery size, the search results of every genuine probe
    and stranger (per side: unmasked, masked), with the thresholds calibrated on the enrolled people."""
    rng = np.random.default_rng([protocol.seed, split])
    n_ids = len(images.names)
    perm = rng.permutation(n_ids)
    n_enrolled = int(round(protocol.enrolled_fraction * n_ids))
    enrolled = perm[:n_enrolled]
    is_enrolled = np.zeros(n_ids, bool)
    is_enrolled[enrolled] = True
    enrolled_rows = np.flatnonzero(is_enrolled[images.ident])
    stranger_rows = np.flatnonzero(~is_enrolled[images.ident])
    tail_u, tail_m, _ = calibration_tails(images, enrolled_rows)
    by_id: dict[int, list[int]] = {}
    for r in enrolled_rows:
        by_id.setdefault(int(images.ident[r]), []).append(int(r))
    template = {i: int(rng.choice(rows)) for i, rows in sorted(by_id.items())}
    out: dict[bool, dict[str, os_.Trials]] = {side: {} for side in masked_sides}
    calibrated: dict[str, dict[str, float]] = {}
    for label, size in [*((str(s), s) for s in protocol.sizes), ("full", n_enrolled)]:
        if size > n_enrolled or size < 2:
            continue
        draws = 1 if size == n_enrolled else min(protocol.max_gallery_draws, math.ceil(n_enrolled / size))
        thresholds = {
            False: os_.calibrated_threshold(tail_u, size, protocol.target_fpir)[0],
            True: os_.calibrated_threshold(tail_m or tail_u, size, protocol.target_fpir)[0],
        }
        parts: dict[bool, list[os_.Trials]] = {side: [] for side in masked_sides}
        for _ in range(draws):
            chosen = enrolled if size == n_enrolled else rng.choice(enrolled, size, replace=False)
            g_rows = np.array([template[int(i)] for i in chosen])
            in_gallery = np.zeros(n_ids, bool)
            in_gallery[chosen] = True
            genuine_rows = np.setdiff1d(np.flatnonzero(in_gallery[images.ident]), g_rows)
            probe_rows = np.concatenate([genuine_rows, stranger_rows])
            genuine = np.concatenate([np.ones(len(genuine_rows), bool), np.zeros(len(stranger_rows), bool)])
            for side in masked_sides:
                emb, found, offset, head = _side(images, side)
                best_row, best, second = os_.search(images.emb[g_rows], emb[probe_rows])
                best = np.where(found[probe_rows], best, -np.inf).astype(np.float32)
                off = offset[probe_rows] + (0.0 if side else shipped[0])
                routed = head[probe_rows]
                cal = np.where(routed, thresholds[True], thresholds[False]).astype(np.float32)
                tail_m_or_u = tail_m if tail_m is not None else tail_u
                predicted = np.where(
                    routed,
                    os_.predicted_fpir(tail_m_or_u, thresholds[True], size),
                    os_.predicted_fpir(tail_u, thresholds[False], size),
                )
                predicted_shipped = np.where(
                    routed,
                    os_.predicted_fpir(tail_m_or_u, shipped[1], size),
                    os_.predicted_fpir(tail_u, shipped[0], size),
                )
                parts[side].append(
                    os_.Trials(
                        gallery_size=size,
                        ident=images.ident[probe_rows],
                        genuine=genuine,
                        correct=images.ident[g_rows][best_row] == images.ident[probe_rows],
                        best=best,
                        second=second,
                        offset=off.astype(np.float32),
                        cal_offset={"target": cal},
                        predicted={"target": predicted},
                        predicted_shipped=predicted_shipped,
                    )
                )
        for side in masked_sides:
            out[side][label] = os_.Trials.concat(parts[side])
        calibrated[label] = {"unmasked": round(thresholds[False], 4), "masked": round(thresholds[True], 4)}
    return out, calibrated


def _summarise(
    trials: dict[str, os_.Trials],
    protocol: Protocol,
    n_ids: int,
    shipped: dict[str, float],
    thresholds: dict[str, list[dict[str, float]]],
) -> dict[str, Any]:
    w = os_.identity_draws(n_ids, protocol.draws, protocol.seed).astype(float) if protocol.draws else None
    out: dict[str, Any] = {"fpir": {}, "fnir": {}, "fpir_interval": {}, "fnir_interval": {}}
    out.update({"dir_rank1": {}, "rank1": {}, "gallery_size": {}, "strangers": {}, "genuine_probes": {}})
    out.update({"fnir_at_fpir": {}, "shipped_with_margin": {}, "calibrated": {}, "predicted_vs_measured": {}})
    out["det"] = {}
    for label, t in trials.items():
        at = os_.rates_at(t, t.offset, 0.0, n_ids, w)
        out["fpir"][label], out["fnir"][label] = at["fpir"], at["fnir"]
        out["fpir_interval"][label], out["fnir_interval"][label] = at["fpir_interval"], at["fnir_interval"]
        out["dir_rank1"][label] = 1.0 - at["fnir"]
        out["rank1"][label] = float(t.correct[t.genuine].mean()) if t.genuine.any() else None
        out["gallery_size"][label] = t.gallery_size
        out["strangers"][label], out["genuine_probes"][label] = at["strangers"], at["genuine_probes"]
        out["fnir_at_fpir"][label] = {
            f"margin {m:g}": {k: os_.fnir_at_fpir(t, v, m, n_ids, w) for k, v in os_.FPIR_TARGETS.items()}
            for m in protocol.margins
        }
        out["shipped_with_margin"][label] = {
            f"{m:g}": os_.rates_at(t, t.offset, m, n_ids, w) for m in protocol.margins
        }
        cal = t.cal_offset["target"]
        s = ~t.genuine
        out["calibrated"][label] = {
            "target_fpir": protocol.target_fpir,
            "thresholds_per_split": thresholds.get(label, []),
            "predicted_fpir": float(t.predicted["target"][s].mean()) if s.any() else None,
            "by_margin": {f"{m:g}": os_.rates_at(t, cal, m, n_ids, w) for m in protocol.margins},
        }
        out["predicted_vs_measured"][label] = {
            "shipped": {
                "predicted": float(t.predicted_shipped[s].mean())
                if t.predicted_shipped is not None
                else None,
                "measured": at["fpir"],
                "measured_interval": at["fpir_interval"],
            },
            "calibrated": {
                "predicted": out["calibrated"][label]["predicted_fpir"],
                "measured": out["calibrated"][label]["by_margin"]["0"]["fpir"]
                if "0" in out["calibrated"][label]["by_margin"]
                else None,
            },
        }
        det = os_.det_curve(t, 0.0, 60)
        out["det"][label] = {k: [round(x, 6) for x in v] for k, v in det.items()}
    out["operating_point"] = {**shipped, "margin": 0.0}
    return out


def run_openset(
    pipeline: FacePipeline,
    data_dir: Path,
    *,
    protocol: Protocol | None = None,
    masked: bool = True,
    max_identities: int | None = None,
) -> dict[str, Any]:
    protocol = protocol or Protocol()
    t0 = time.perf_counter()
    paths = lfw_images(data_dir, max_identities, protocol.seed)
    skipped = None if masked else "not asked for (--no-masked)"
    if masked and not _is_head_embedder(pipeline):
        skipped, masked = "the masked-face head is built on fr_feature; this embedder is another", False
    images = embed_images(pipeline, data_dir, paths, masked=masked, seed=protocol.seed)
    embed_s = time.perf_counter() - t0
    cfg = pipeline.config
    n_ids = len(images.names)
    if n_ids < 4:
        raise LfwError(f"{data_dir}: faces of {n_ids} people found; the open-set protocol needs at least 4")
    sides = (False, True) if masked else (False,)
    pooled: dict[bool, dict[str, list[os_.Trials]]] = {s: {} for s in sides}
    thresholds: dict[str, list[dict[str, float]]] = {}
    for split in range(protocol.splits):
        got, chosen = _split_trials(
            images, protocol, split, (cfg.match_threshold, cfg.masked_match_threshold), sides
        )
        for label, chosen_t in chosen.items():
            thresholds.setdefault(label, []).append(chosen_t)
        for side in sides:
            for label, t in got[side].items():
                pooled[side].setdefault(label, []).append(t)
    result: dict[str, Any] = {
        "protocol": "open-set LFW in the spirit of BLUFR: all images, seeded splits of the identities",
        "images": len(paths),
        "images_with_face": len(images.keys),
        "missed_images": images.missed,
        "identities": n_ids,
        "splits": protocol.splits,
        "enrolled_fraction": protocol.enrolled_fraction,
        "seed": protocol.seed,
        "interval": f"{100 * os_.LEVEL:.0f} % percentile bootstrap over identities, {protocol.draws} draws",
    }
    result.update(verification(images, False, cfg.match_threshold))
    shipped_u = {"threshold": cfg.match_threshold}
    result.update(
        _summarise(
            {k: os_.Trials.concat(v) for k, v in pooled[False].items()},
            protocol,
            n_ids,
            shipped_u,
            thresholds,
        )
    )
    if masked:
        assert images.masked is not None
        m: dict[str, Any] = {
            "routing": images.masked.routing,
            "head": images.masked.head_info,
            "images": len(images.keys),
            "identities": n_ids,
        }
        m.update(verification(images, True, cfg.match_threshold))
        shipped_m = {"threshold": cfg.match_threshold, "masked_threshold": cfg.masked_match_threshold}
        m.update(
            _summarise(
                {k: os_.Trials.concat(v) for k, v in pooled[True].items()},
                protocol,
                n_ids,
                shipped_m,
                thresholds,
            )
        )
        result["masked"] = m
    else:
        result["masked"] = None
        result["masked_skipped"] = skipped
    result["seconds"] = {"embedding": round(embed_s, 1), "total": round(time.perf_counter() - t0, 1)}
    return result


def calibration(
    pipeline: FacePipeline, data_dir: Path, tag: Any, source: str, *, masked: bool = True
) -> tuple[Calibration, dict[str, Any]]:
    """The impostor tails of every cross pair of the copy's images (masked: head-embedded masked probes of
    every image against every other person's unmasked images), for ``edged calibrate threshold``."""
    paths = lfw_images(data_dir)
    masked = masked and _is_head_embedder(pipeline)
    images = embed_images(pipeline, data_dir, paths, masked=masked)
    tail_u, tail_m, pairs = calibration_tails(images)
    cal = Calibration(f"{tag.model_id}@{tag.version}", tail_u, tail_m, source)
    info = {"images_with_face": len(images.keys), "identities": len(images.names), "pairs": pairs}
    return cal, info


def real_embeddings(pipeline: FacePipeline, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every LFW image's plain embedding (cached, as ``eval openset --no-masked`` makes them) and its
    person's index: the queries of ``edged bench gallery --real``."""
    images = embed_images(pipeline, data_dir, lfw_images(data_dir), masked=False)
    return images.emb, images.ident
