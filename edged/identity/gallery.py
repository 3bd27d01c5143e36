"""The enrolled people as the daemon sees them: encrypted store + in-memory index, safe across threads.

The index is rebuilt from the store every time the gallery opens and checked against it, so the
store is the only thing on disk and a template never exists outside it except in memory.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import platformdirs

from edged.identity.config import IdentityConfig, IndexConfig
from edged.identity.crypto import Cipher, load_key
from edged.identity.index import BinaryIndex, ExactIndex, create_index
from edged.identity.records import ErasureReceipt, Match, NewTemplate, Person, utc_now
from edged.identity.store import GalleryStore, ModelTag

if TYPE_CHECKING:
    from edged.config.schema import EdgedConfig
    from edged.vision.config import VisionConfig

log = logging.getLogger(__name__)

EMBEDDING_DIM = 512  # fr_feature's; another embedder's length comes from its tag (model_dim)
MAX_SHORTLIST = 4096  # templates looked up per search at most (people have at most a few dozen each)


class GalleryIntegrityError(Exception):
    """The rebuilt index does not agree with the store."""


def default_database_path() -> Path:
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0]) / "gallery.db"
    return Path(platformdirs.user_data_dir("edged")) / "gallery.db"


def embedder_tag(vision: VisionConfig) -> ModelTag:
    """The tag of templates made by the configured pinned embedder (``vision.embedder``) under ``vision``'s
    options (the mirrored crop and the grey crop change the vectors)."""
    from edged.models import PINNED
    from edged.vision.embedders import embedder_model

    spec = embedder_model(vision.embedder)
    options = ("+flip" if vision.flip_embedding else "") + ("+grey" if vision.grey_embedding else "")
    return ModelTag(spec.name, PINNED[spec.file][:16] + options)


def model_dim(model: ModelTag) -> int:
    """Length of the templates of the embedder a tag names (512 for a model id edged does not know)."""
    from edged.vision.embedders import EMBEDDER_MODELS

    spec = EMBEDDER_MODELS.get(model.model_id)
    return spec.dim if spec is not None else EMBEDDING_DIM


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms < 1e-6):
        raise ValueError("embedding is empty, zero or not finite")
    return vectors / norms


@dataclass
class VerifyReport:
    templates_in_store: int
    templates_in_index: int
    other_model_templates: dict[str, int]
    self_checks: int
    self_check_hits: int
    build_s: float
    index_kind: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "index": self.index_kind,
            "templates_in_store": self.templates_in_store,
            "templates_in_index": self.templates_in_index,
            "other_model_templates": self.other_model_templates,
            "self_checks": self.self_checks,
            "self_check_hits": self.self_check_hits,
            "build_s": round(self.build_s, 3),
            "problems": self.problems,
        }


class Gallery:
    def __init__(
        self, store: GalleryStore, index_config: IndexConfig, model: ModelTag, dim: int | None = None
    ):
        dim = dim or model_dim(model)
        self.store = store
        self.model = model
        self.dim = dim
        self._index_config = index_config
        self._lock = threading.RLock()
        self.index: ExactIndex | BinaryIndex = create_index(index_config, dim, 0)
        self.last_verify: VerifyReport | None = None
        self._people: int | None = None  # enrolled people, counted again after each change

    @classmethod
    def open(
        cls, config: IdentityConfig, model: ModelTag, dim: int | None = None, *, verify: bool = True
    ) -> Gallery:
        """Open the store (key, integrity, migrations), rebuild the index and check it against the store."""
        cipher = Cipher(load_key(config.template_key))
        store = GalleryStore(
            config.database or default_database_path(), cipher, integrity_check=config.integrity_check
        )
        gallery = cls(store, config.index, model, dim)
        try:
            report = gallery.rebuild()
            if verify:
                report = gallery.verify(report)
                if not report.ok:
                    raise GalleryIntegrityError("; ".join(report.problems))
        except BaseException:
            store.close()
            raise
        return gallery

    @classmethod
    def from_config(cls, cfg: EdgedConfig) -> Gallery:
        """The daemon's gallery: identity settings, templates of the configured embedder."""
        return cls.open(cfg.identity, embedder_tag(cfg.vision))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.index)

    def people(self) -> int:
        """How many people are enrolled (the N of a 1:N search); counted once per change, not per query."""
        with self._lock:
            if self._people is None:
                self._people = self.store.person_count()
            return self._people

    # --- index ----------------------------------------------------------------------------------
    def rebuild(self) -> VerifyReport:
        started = time.perf_counter()
        counts = self.store.template_counts()
        wanted = counts.get(self.model, 0)
        index = create_index(self._index_config, self.dim, wanted)
        for batch in self.store.iter_templates(self.model):
            index.add(batch.template_ids, _normalise(batch.vectors))
        others = {f"{t.model_id}@{t.version}": n for t, n in counts.items() if t != self.model}
        if others:
            log.warning(
                "%d templates were made by another embedder and are not searchable; run"
                " 'edged gallery reembed' (needs kept photos) or re-enroll those people",
                sum(others.values()),
            )
        with self._lock:
            self.index = index
            self._people = None
        report = VerifyReport(wanted, len(index), others, 0, 0, time.perf_counter() - started, index.kind)
        self.last_verify = report
        return report

    def verify(self, report: VerifyReport | None = None, samples: int = 64) -> VerifyReport:
        """Same template ids in index and store, and sampled stored templates find themselves first."""
        report = report or self.rebuild()
        store_ids = set(self._store_ids())
        with self._lock:
            index_ids = set(self.index.keys().tolist())
        if store_ids != index_ids:
            report.problems.append(
                f"index and store disagree: {len(store_ids - index_ids)} templates missing from the index, "
                f"{len(index_ids - store_ids)} not in the store"
            )
        sample = self.store.sample_templates(self.model, samples)
        hits = 0
        for tid, vector in zip(sample.template_ids.tolist(), sample.vectors, strict=True):
            with self._lock:
                keys, _ = self.index.search(_normalise(vector), 1)
            hits += int(len(keys) > 0 and int(keys[0]) == tid)
        report.self_checks, report.self_check_hits = len(sample.template_ids), hits
        if hits < len(sample.template_ids):
            report.problems.append(
                f"{len(sample.template_ids) - hits} of {len(sample.template_ids)} sampled"
                " templates did not find themselves first"
            )
        self.last_verify = report
        return report

    def _store_ids(self) -> list[int]:
        ids: list[int] = []
        for batch in self.store.iter_templates(self.model):
            ids.extend(batch.template_ids.tolist())
        return ids

    def _grow_if_needed(self) -> None:
        """``auto``: move from exact to binary once the gallery passes ``exact_max``, without decrypting."""
        cfg = self._index_config
        if cfg.type != "auto" or not isinstance(self.index, ExactIndex) or len(self.index) <= cfg.exact_max:
            return
        binary = BinaryIndex(self.dim, cfg.code_bits, cfg.candidates, cfg.seed, cfg.scan_threads)
        keys = self.index.keys()
        for start in range(0, len(keys), 10_000):
            chunk = keys[start : start + 10_000]
            binary.add(chunk, self.index.vectors(chunk))
        self.index = binary
        log.info("gallery passed %d templates: switched to the binary index", cfg.exact_max)

    # --- the daemon's calls ---------------------------------------------------------------------
    def search(self, embedding: np.ndarray, k: int = 1) -> list[Match]:
        """The ``k`` best distinct people (best template each), highest cosine similarity first.

        Several templates may share a person: the search widens until it has ``k`` people or has seen
        every template, so a runner-up identity is never missed because one person filled the shortlist.
        """
        query = _normalise(np.asarray(embedding, np.float32).reshape(-1))
        wanted = 16 * k + 8
        while True:
            with self._lock:
                total = len(self.index)
                keys, scores = self.index.search(query, min(wanted, max(total, 1)))
            owners = self.store.owners(keys.tolist())
            best: dict[str, tuple[float, int]] = {}
            for key, score in zip(keys.tolist(), scores.tolist(), strict=True):
                pid = owners.get(key)
                if pid is not None and (pid not in best or score > best[pid][0]):
                    best[pid] = (score, key)
            if len(best) >= k or wanted >= min(total, MAX_SHORTLIST):
                break
            wanted = min(wanted * 4, MAX_SHORTLIST)
        out: list[Match] = []
        for pid, (score, key) in sorted(best.items(), key=lambda item: -item[1][0])[:k]:
            person = self.store.get_person(pid)
            if person is not None:
                out.append(Match(person, float(score), key))
        return out

    def add(
        self, person: Person, templates: Sequence[NewTemplate], photos: Sequence[bytes] = ()
    ) -> list[int]:
        """Store the person and templates in one transaction, then make them searchable."""
        vectors = _normalise(np.stack([t.embedding for t in templates])) if templates else None
        if vectors is not None and vectors.shape[1] != self.dim:
            raise ValueError(f"templates must be {self.dim}-dimensional, got {vectors.shape[1]}")
        with self._lock:
            ids = self.store.add_person(person, templates, self.model, photos)
            self._people = None
            if vectors is not None:
                self.index.add(np.array(ids, np.int64), vectors)
                self._grow_if_needed()
        return ids

    def replace_templates(self, person_id: str, templates: Sequence[NewTemplate]) -> list[int]:
        vectors = _normalise(np.stack([t.embedding for t in templates]))
        with self._lock:
            old, new = self.store.replace_templates(person_id, templates, self.model)
            self.index.remove(old)
            self.index.add(np.array(new, np.int64), vectors)
            self._grow_if_needed()
        return new

    def person(self, person_id: str) -> Person | None:
        return self.store.get_person(person_id)

    def erase(self, person_id: str, *, compact: bool = True) -> ErasureReceipt:
        """Remove the person, every template and photo, from the index too; then compact the file."""
        with self._lock:
            erased = self.store.erase(person_id, compact=False)
            removed = self.index.remove(erased.template_ids)
            self._people = None
        compacted = self.store.compact() if compact else False
        return ErasureReceipt(
            person_id=person_id,
            erased_at=utc_now(),
            templates_removed=len(erased.template_ids),
            photos_removed=erased.photos,
            index_entries_removed=removed,
            storage_compacted=compacted,
            template_ids=erased.template_ids,
        )
