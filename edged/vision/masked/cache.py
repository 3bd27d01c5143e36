"""Per-image embeddings and feature maps for the masked-probe benchmark, computed once and cached on disk
(var/cache/).

For every image: the embedding and the masked-head feature map (``head.FEATURE``, crop and mirrored crop)
of the image as it is (store ``plain``), and of the image wearing each of the first ``variants`` seeded
synthetic masks (stores ``masked0``, ``masked1``, ...; re-detected, so landmarks and alignment come from the
masked face as they would at the gate; with the masked face's detector box, for the mask classifier).
Variant 0 is the probe's mask; all variants train the masked head. A variant's mask depends only on the
image and the variant number, so each store is filled on its own: asking for more variants computes only
the new ones. Entries are added as they are computed and saved every few hundred images, so an
interrupted run resumes. The store name covers the models, the embedding settings and the mask drawing,
alignment and landmark code, so a change to any of them starts afresh.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edged.vision import align, landmarks
from edged.vision.image_io import ImageError, load_image
from edged.vision.lfw_run import find_face
from edged.vision.masked import draw
from edged.vision.masked.draw import draw_mask, style_for
from edged.vision.masked.head import CHANNELS, FEATURE, POSITIONS, FeatureEmbedder
from edged.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)
FORMAT = 3
DIM = 512
SAVE_EVERY = 250
FEAT_SHAPE = (2, CHANNELS, POSITIONS)
WIDTH = {"emb": DIM, "feat": 2 * CHANNELS * POSITIONS, "box": 4}
DTYPE = {"emb": np.float32, "feat": np.float16, "box": np.float32}  # feature maps at half size on disk
PLAIN_FIELDS = ("emb", "feat")
MASKED_FIELDS = ("emb", "feat", "box")


@dataclass
class CachedFace:
    emb: np.ndarray  # (512,) unit embedding from the plain embedder
    feat: np.ndarray  # (2, 128, 49) float16 feature map at head.FEATURE: crop, mirrored crop
    box: np.ndarray | None = None  # detector box of the (masked) face


@dataclass
class Store:
    """One cache file: ``found[i]`` says whether a face was found for ``keys[i]`` (else zero rows)."""

    path: Path
    keys: list[str]
    found: np.ndarray
    arrays: dict[str, np.ndarray]
    pending: list[tuple[str, bool, dict[str, np.ndarray]]] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path, fields: tuple[str, ...]) -> Store:
        if path.exists():
            with np.load(path) as z:
                return cls(path, [str(k) for k in z["keys"]], z["found"], {f: z[f] for f in fields})
        return cls(path, [], np.zeros(0, bool), {f: np.zeros((0, WIDTH[f]), DTYPE[f]) for f in fields})

    def add(self, key: str, found: bool, values: dict[str, np.ndarray]) -> None:
        self.pending.append((key, found, values))

    def save(self) -> None:
        """Fold the added rows into the arrays and write the file (atomically); a file with nothing new is
        left as it is."""
        if not self.pending and self.path.exists():
            return
        if self.pending:
            self.keys += [k for k, _, _ in self.pending]
            self.found = np.concatenate([self.found, [f for _, f, _ in self.pending]]).astype(bool)
            for f, arr in self.arrays.items():
                zero = np.zeros(WIDTH[f], DTYPE[f])
                new = np.stack([v[f].reshape(-1) if f in v else zero for _, _, v in self.pending])
                self.arrays[f] = np.vstack([arr, new.astype(DTYPE[f])])
            self.pending = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # a temporary name of this process's own: two runs filling the same store never write one file
        tmp = self.path.with_name(f"{self.path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, keys=np.array(self.keys), found=self.found, **self.arrays)  # type: ignore[arg-type]
        tmp.replace(self.path)

    def face(self, key: str, row: int) -> CachedFace | None:
        if not self.found[row]:
            return None
        a = self.arrays
        return CachedFace(
            a["emb"][row], a["feat"][row].reshape(FEAT_SHAPE), a["box"][row] if "box" in a else None
        )


@dataclass
class ProbeCache:
    plain: dict[str, CachedFace | None]  # key → the image as it is (None: no face)
    masked: dict[int, dict[str, CachedFace | None]]  # variant → key → the image wearing that mask
    grey: bool  # the embedder saw grey crops (``Embedder.grey``); a head trained on this cache is served so


def cache_dir() -> Path:
    return Path(os.environ.get("EDGED_CACHE_DIR", Path.cwd() / "var" / "cache")) / "lfw_mask_probe"


def fingerprint(pipeline: FacePipeline) -> str:
    """Names the cache files: the embedder's weights (its pinned sha256: ``FeatureEmbedder`` always reads
    ``fr_feature.onnx``), its options, the detector's settings and the drawing/alignment code."""
    from edged.models import PINNED

    h = hashlib.sha256()
    for part in (
        f"format={FORMAT} flip={pipeline.embedder.flip} grey={pipeline.embedder.grey} "
        f"weights={PINNED['fr_feature.onnx']} "
        f"mirror={pipeline.landmarks.mirror} feature={FEATURE}",
        *(Path(str(m.__file__)).read_text() for m in (draw, align, landmarks)),
        repr(pipeline.detector.config),
    ):
        h.update(part.encode())
    for engine in (pipeline.detector.engine, pipeline.landmarks.engine, pipeline.embedder.engine):
        h.update(str(getattr(engine, "name", type(engine).__name__)).encode())
    return h.hexdigest()[:16]


def build(
    pipeline: FacePipeline,
    data_dir: Path,
    paths: list[Path],
    variants: int,
    all_variants: Collection[Path] | None = None,
) -> ProbeCache:
    """Every image in ``paths`` plain and wearing mask variants 0 to ``variants`` - 1: read from the cache,
    the rest computed with the pipeline's embedder options (those the cache file's name is keyed on).
    Given ``all_variants`` (the images a head trains on), the other images get only the plain face and the
    probe's mask (variant 0): the higher variants are absent from their ``masked`` entries."""
    if variants < 1:
        raise ValueError("variants must be at least 1 (variant 0 is the probe's mask)")
    stem = fingerprint(pipeline)
    names = {"plain": None, **{f"masked{v}": v for v in range(variants)}}
    stores = {
        name: Store.open(cache_dir() / f"{stem}-{name}.npz", MASKED_FIELDS if v is not None else PLAIN_FIELDS)
        for name, v in names.items()
    }
    keyed = [(p, str(p.relative_to(data_dir))) for p in paths]
    known = {name: set(store.keys) for name, store in stores.items()}

    def one(path: Path, key: str, missing: list[str], features: FeatureEmbedder) -> None:
        try:
            bgr = load_image(path)
        except ImageError as exc:
            log.warning("%s", exc)
            face = None
        else:
            face = find_face(pipeline, bgr)
        if face is None or face.aligned is None or face.landmarks is None:
            for name in missing:
                stores[name].add(key, False, {})
            return
        crops, slots, boxes = [], [], {}
        for name in missing:
            v = names[name]
            if v is None:
                crops.append(face.aligned)
                slots.append(name)
                continue
            mface = find_face(pipeline, draw_mask(bgr, face.landmarks, style_for(key, v)))
            if mface is not None and mface.aligned is not None:
                crops.append(mface.aligned)
                slots.append(name)
                boxes[name] = mface.box.astype(np.float32)
        emb, feat = features.embed_with_features(crops) if crops else (np.zeros(0), np.zeros(0))
        for name in missing:
            if name in slots:
                i = slots.index(name)
                values = {"emb": emb[i], "feat": feat[i]} | ({"box": boxes[name]} if name in boxes else {})
                stores[name].add(key, True, values)
            else:
                stores[name].add(key, False, {})

    every = None if all_variants is None else {str(p.relative_to(data_dir)) for p in all_variants}

    def wanted(key: str) -> list[str]:
        return [n for n, v in names.items() if every is None or key in every or v is None or v == 0]

    todo = [(p, k, [n for n in wanted(k) if k not in known[n]]) for p, k in keyed]
    todo = [(p, k, missing) for p, k, missing in todo if missing]
    if todo:
        features = FeatureEmbedder(
            pipeline.models_dir, flip=pipeline.embedder.flip, grey=pipeline.embedder.grey
        )
        for i, (path, key, missing) in enumerate(todo):
            if i % SAVE_EVERY == 0 and i:
                log.info("masked-probe cache: %d / %d images", i, len(todo))
                for store in stores.values():
                    store.save()
            one(path, key, missing, features)
        for store in stores.values():
            store.save()
    rows = {name: {k: r for r, k in enumerate(store.keys)} for name, store in stores.items()}
    keys = [k for _, k in keyed]

    def faces(name: str) -> dict[str, CachedFace | None]:
        return {k: stores[name].face(k, rows[name][k]) for k in keys if name in wanted(k)}

    masked = {v: faces(f"masked{v}") for v in range(variants)}
    return ProbeCache(faces("plain"), masked, grey=pipeline.embedder.grey)
