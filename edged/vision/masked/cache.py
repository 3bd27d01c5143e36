"""Per-image embeddings for the masked-probe benchmark, computed once and cached on disk (var/cache/).

Two stores: ``plain`` holds the embedding of the image as it is; ``masked`` holds, for the image wearing
its seeded synthetic mask (re-detected, so landmarks and alignment come from the masked face as they would
at the gate), the embedding of the full aligned crop, that of the upper face only, and the masked face's
detector box (for the mask classifier). Entries are added as they are computed and saved every few hundred
images, so an interrupted run resumes. The store name covers the models, the embedding settings and the
mask drawing, alignment and landmark code, so a change to any of them starts afresh.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edged.vision import align, landmarks
from edged.vision.image_io import ImageError, load_image
from edged.vision.lfw_run import find_face
from edged.vision.masked import draw, upper
from edged.vision.masked.draw import draw_mask, style_for
from edged.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)
FORMAT = 2
DIM = 512
SAVE_EVERY = 250
FIELDS = {"plain": ("emb",), "masked": ("emb", "upper", "box")}


@dataclass
class Store:
    """One cache file: ``found[i]`` says whether a face was found for ``keys[i]`` (else zero vectors)."""

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
        width = {"emb": DIM, "upper": DIM, "box": 4}
        return cls(path, [], np.zeros(0, bool), {f: np.zeros((0, width[f]), np.float32) for f in fields})

    def add(self, key: str, found: bool, values: dict[str, np.ndarray]) -> None:
        self.pending.append((key, found, values))

    def save(self) -> None:
        """Fold the added rows into the arrays and write the file (atomically)."""
        if self.pending:
            self.keys += [k for k, _, _ in self.pending]
            self.found = np.concatenate([self.found, [f for _, f, _ in self.pending]]).astype(bool)
            for f, arr in self.arrays.items():
                zero = np.zeros(arr.shape[1], np.float32)
                new = np.stack([v.get(f, zero) for _, _, v in self.pending]).astype(np.float32)
                self.arrays[f] = np.vstack([arr, new])
            self.pending = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.stem + ".tmp.npz")
        np.savez(tmp, keys=np.array(self.keys), found=self.found, **self.arrays)  # type: ignore[arg-type]
        tmp.replace(self.path)

    def rows(self, keys: list[str]) -> np.ndarray:
        where = {k: i for i, k in enumerate(self.keys)}
        return np.array([where[k] for k in keys], np.int64)


@dataclass
class ProbeCache:
    plain: dict[str, np.ndarray | None]  # key → embedding of the image as it is (None: no face)
    masked: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray] | None]  # key → (full, upper, box) masked


def cache_dir() -> Path:
    return Path(os.environ.get("EDGED_CACHE_DIR", Path.cwd() / "var" / "cache")) / "lfw_mask_probe"


def fingerprint(pipeline: FacePipeline, variant: int) -> str:
    h = hashlib.sha256()
    for part in (
        f"format={FORMAT} flip={pipeline.embedder.flip} mirror={pipeline.landmarks.mirror} variant={variant} "
        f"blank={upper.BLANK_FROM_ROW}",
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
    plain_paths: list[Path],
    masked_paths: list[Path],
    variant: int = 0,
) -> ProbeCache:
    """Embeddings for the given images: read from the cache, the missing ones computed and added."""
    stem = fingerprint(pipeline, variant)
    stores = {what: Store.open(cache_dir() / f"{stem}-{what}.npz", FIELDS[what]) for what in FIELDS}
    known = {what: set(store.keys) for what, store in stores.items()}

    def save() -> None:
        for store in stores.values():
            store.save()

    def one(path: Path, key: str, with_mask: bool) -> None:
        try:
            bgr = load_image(path)
        except ImageError as exc:
            log.warning("%s", exc)
            face = None
        else:
            face = find_face(pipeline, bgr)
        if face is None or face.aligned is None or face.landmarks is None:
            for what in ("plain", "masked") if with_mask else ("plain",):
                if key not in known[what]:
                    stores[what].add(key, False, {})
                    known[what].add(key)
            return
        mface = (
            find_face(pipeline, draw_mask(bgr, face.landmarks, style_for(key, variant)))
            if with_mask
            else None
        )
        crops = [face.aligned]
        if mface is not None and mface.aligned is not None:
            crops += [mface.aligned, upper.upper_face(mface.aligned)]
        vectors = pipeline.embedder.embed(crops)
        if key not in known["plain"]:
            stores["plain"].add(key, True, {"emb": vectors[0]})
            known["plain"].add(key)
        if with_mask and key not in known["masked"]:
            values: dict[str, np.ndarray] = {}
            if mface is not None and len(vectors) == 3:
                values = {"emb": vectors[1], "upper": vectors[2], "box": mface.box.astype(np.float32)}
            stores["masked"].add(key, bool(values), values)
            known["masked"].add(key)

    keyed_masked = [(p, str(p.relative_to(data_dir))) for p in masked_paths]
    keyed_plain = [(p, str(p.relative_to(data_dir))) for p in plain_paths]
    todo = [(p, k, True) for p, k in keyed_masked if k not in known["masked"]]
    todo_keys = {k for _, k, _ in todo}
    todo += [(p, k, False) for p, k in keyed_plain if k not in known["plain"] and k not in todo_keys]
    for i, (path, key, with_mask) in enumerate(todo):
        if i % SAVE_EVERY == 0 and i:
            log.info("masked-probe cache: %d / %d images", i, len(todo))
            save()
        one(path, key, with_mask)
    if todo:
        save()
    plain = stores["plain"]
    masked = stores["masked"]
    out_plain = {
        k: (plain.arrays["emb"][r] if plain.found[r] else None)
        for (_, k), r in zip(keyed_plain, plain.rows([k for _, k in keyed_plain]), strict=True)
    }
    out_masked = {
        k: (
            (masked.arrays["emb"][r], masked.arrays["upper"][r], masked.arrays["box"][r])
            if masked.found[r]
            else None
        )
        for (_, k), r in zip(keyed_masked, masked.rows([k for _, k in keyed_masked]), strict=True)
    }
    return ProbeCache(out_plain, out_masked)
