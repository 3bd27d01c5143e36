"""``edged bench gallery``: search latency and recall on synthetic unit vectors with planted matches.

Gallery vectors are isotropic random unit vectors (the hardest case for an approximate index: no
cluster structure). Each query is a gallery vector mixed with fresh noise so that its cosine with
that vector is exactly ``match_cos``; recall@1 compares the index's top-1 with exact float32 search.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from edged.identity.config import IndexConfig
from edged.identity.index import create_index

CHUNK = 50_000


def _chunk(seed: int, index: int, rows: int, dim: int) -> np.ndarray:
    """Chunk ``index`` of the synthetic gallery: the same numbers every time it is asked for."""
    rng = np.random.default_rng([seed, index])
    x = rng.standard_normal((rows, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def synthetic_gallery(size: int, dim: int, seed: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(first_row, vectors)`` chunks of the synthetic gallery."""
    for start in range(0, size, CHUNK):
        yield start, _chunk(seed, start // CHUNK, min(CHUNK, size - start), dim)


def planted_queries(
    size: int, dim: int, seed: int, count: int, match_cos: float
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` queries, each at cosine ``match_cos`` to a random gallery row; returns (queries, rows)."""
    rng = np.random.default_rng([seed, 1 << 30])
    targets = rng.integers(0, size, count)
    queries = np.empty((count, dim), np.float32)
    for start, vectors in synthetic_gallery(size, dim, seed):
        mine = np.nonzero((targets >= start) & (targets < start + len(vectors)))[0]
        for i in mine:
            x = vectors[targets[i] - start]
            noise = rng.standard_normal(dim).astype(np.float32)
            noise -= noise.dot(x) * x
            noise /= np.linalg.norm(noise)
            queries[i] = match_cos * x + np.sqrt(1.0 - match_cos**2) * noise
    return queries, targets


def exact_top1(queries: np.ndarray, size: int, dim: int, seed: int) -> np.ndarray:
    best_row = np.zeros(len(queries), np.int64)
    best = np.full(len(queries), -np.inf, np.float32)
    for start, vectors in synthetic_gallery(size, dim, seed):
        scores = queries @ vectors.T
        row = scores.argmax(axis=1)
        value = scores[np.arange(len(queries)), row]
        better = value > best
        best[better] = value[better]
        best_row[better] = row[better] + start
    return best_row


def run(
    size: int, dim: int, queries: int, config: IndexConfig, match_cos: float, seed: int = 0
) -> dict[str, Any]:
    if size < 1 or dim < 2 or queries < 1 or not -1.0 < match_cos < 1.0:
        raise ValueError("size, dim and queries must be positive and match_cos inside (-1, 1)")
    process = psutil.Process()
    rss_before = process.memory_info().rss
    started = time.perf_counter()
    index = create_index(config, dim, size)
    for start, vectors in synthetic_gallery(size, dim, seed):
        index.add(np.arange(start, start + len(vectors), dtype=np.int64), vectors)
    build_s = time.perf_counter() - started
    rss = process.memory_info().rss

    q, planted = planted_queries(size, dim, seed, queries, match_cos)
    for i in range(min(20, queries)):  # warm caches and lazy allocations before timing
        index.search(q[i], 1)
    latencies = np.empty(queries)
    found = np.empty(queries, np.int64)
    for i in range(queries):
        t = time.perf_counter()
        keys, _ = index.search(q[i], 1)
        latencies[i] = time.perf_counter() - t
        found[i] = keys[0]
    truth = exact_top1(q, size, dim, seed)
    result: dict[str, Any] = {
        "size": size,
        "dim": dim,
        "index": index.kind,
        "queries": queries,
        "match_cos": match_cos,
        "p50_ms": round(float(np.percentile(latencies, 50)) * 1e3, 3),
        "p99_ms": round(float(np.percentile(latencies, 99)) * 1e3, 3),
        "mean_ms": round(float(latencies.mean()) * 1e3, 3),
        "recall_at_1": round(float((found == truth).mean()), 4),
        "planted_is_exact_top1": round(float((truth == planted).mean()), 4),
        "build_s": round(build_s, 2),
        "rss_mb": round(rss / 2**20, 1),
        "rss_growth_mb": round((rss - rss_before) / 2**20, 1),
        "index_mb": round(index.nbytes() / 2**20, 1),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "machine": platform.machine(),
    }
    if index.kind == "binary":
        result["code_bits"] = config.code_bits
        result["candidates"] = config.candidates
        result["scan_threads"] = config.scan_threads
    return result


def run_store(
    size: int, dim: int, config: IndexConfig, seed: int = 0, directory: Path | None = None
) -> dict[str, Any]:
    """Startup cost at ``size``: write that many people (one encrypted template each) into a fresh
    gallery file, then time ``Gallery.open`` (integrity check, key check, decrypt, index build, verify)."""
    from edged.config.secrets import SecretRef
    from edged.identity.config import IdentityConfig
    from edged.identity.crypto import Cipher, load_key, write_new_key
    from edged.identity.gallery import Gallery
    from edged.identity.records import NewTemplate, Person, utc_now
    from edged.identity.store import GalleryStore, ModelTag

    if size < 1 or dim < 2:
        raise ValueError("size and dim must be positive")
    model = ModelTag("bench", "synthetic")
    with tempfile.TemporaryDirectory(prefix="edged-bench-", dir=directory) as tmp:
        key = Path(tmp) / "template.key"
        write_new_key(key)
        cfg = IdentityConfig(
            database=Path(tmp) / "gallery.db", template_key=SecretRef(file=key), index=config
        )
        assert cfg.database is not None
        started = time.perf_counter()
        store = GalleryStore(cfg.database, Cipher(load_key(cfg.template_key)))
        now = utc_now()
        for start, vectors in synthetic_gallery(size, dim, seed):
            store.add_people(
                [
                    (Person(f"p{start + i}", f"Person {start + i}", now, "bench"), [NewTemplate(v)], ())
                    for i, v in enumerate(vectors)
                ],
                model,
            )
        store.compact()
        store.close()
        write_s = time.perf_counter() - started
        db_bytes = sum(p.stat().st_size for p in Path(tmp).glob("gallery.db*"))
        started = time.perf_counter()
        with Gallery.open(cfg, model, dim) as gallery:
            open_s = time.perf_counter() - started
            report = gallery.last_verify
            indexed, kind = len(gallery), gallery.index.kind
        return {
            "size": size,
            "dim": dim,
            "index": kind,
            "store_write_s": round(write_s, 2),
            "open_s": round(open_s, 2),
            "db_mb": round(db_bytes / 2**20, 1),
            "templates_indexed": indexed,
            "verify_ok": bool(report and report.ok),
            "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
