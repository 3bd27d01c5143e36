"""In-memory 1:N search over L2-normalised templates, keyed by 64-bit template ids.

``ExactIndex``: one float32 matrix-vector product over every template (small galleries).
``BinaryIndex``: 1 bit per random projection (sign codes; Hamming distance estimates the angle),
scanned for the nearest ``candidates`` codes, which are then re-scored exactly from float16 copies.
Both add and remove incrementally; a removed row is overwritten by the last one.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import numpy as np

from edged.identity.config import IndexConfig

log = logging.getLogger(__name__)
logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # it announces its CPU build at INFO

try:  # faiss scans packed codes with hardware popcount; without it numpy does the same, slower
    import faiss

    _HAVE_FAISS = True
except ImportError:  # pragma: no cover - depends on the installed extras
    faiss = None  # type: ignore[assignment]
    _HAVE_FAISS = False


try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - depends on the installed extras
    ThreadpoolController = None

_controller: Any = None


def _one_blas_thread() -> AbstractContextManager[Any]:
    """One query is a matrix-vector product: handing it to a BLAS thread pool on a busy 2-core machine
    cost ~16 ms per call (measured), against ~0.05 ms in the calling thread."""
    global _controller
    if ThreadpoolController is None:
        return nullcontext()
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


class IndexInputError(ValueError):
    pass


class SearchIndex(Protocol):
    kind: str
    dim: int

    def __len__(self) -> int: ...

    def __contains__(self, key: object) -> bool: ...

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, keys: np.ndarray | list[int]) -> int: ...

    def reserve(self, total: int) -> None: ...

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def keys(self) -> np.ndarray: ...

    def nbytes(self) -> int: ...


class _Rows:
    """Growable parallel arrays addressed by int64 keys; removal moves the last row into the hole."""

    def __init__(self, widths: list[tuple[int, np.dtype]]):
        self._specs = widths
        self.arrays = [np.empty((0, w), dt) for w, dt in widths]
        self.key_of = np.empty(0, np.int64)
        self.slot_of: dict[int, int] = {}
        self.n = 0

    def _reserve(self, extra: int, exact: bool = False) -> None:
        need = self.n + extra
        cap = len(self.key_of)
        if need <= cap:
            return
        new_cap = need if exact else max(need, cap * 2, 1024)
        for i, (w, dt) in enumerate(self._specs):
            grown = np.empty((new_cap, w), dt)
            grown[: self.n] = self.arrays[i][: self.n]
            self.arrays[i] = grown
        keys = np.empty(new_cap, np.int64)
        keys[: self.n] = self.key_of[: self.n]
        self.key_of = keys

    def add(self, keys: np.ndarray, columns: list[np.ndarray]) -> None:
        keys = np.asarray(keys, np.int64).reshape(-1)
        if len(np.unique(keys)) != len(keys):
            raise IndexInputError("duplicate keys in one add")
        clash = [int(k) for k in keys if int(k) in self.slot_of]
        if clash:
            raise IndexInputError(f"keys already in the index: {clash[:5]}")
        self._reserve(len(keys))
        start, end = self.n, self.n + len(keys)
        for array, values in zip(self.arrays, columns, strict=True):
            array[start:end] = values
        self.key_of[start:end] = keys
        for i, k in enumerate(keys.tolist()):
            self.slot_of[k] = start + i
        self.n = end

    def remove(self, keys: np.ndarray | list[int]) -> int:
        removed = 0
        for k in np.asarray(keys, np.int64).reshape(-1).tolist():
            slot = self.slot_of.pop(k, None)
            if slot is None:
                continue
            last = self.n - 1
            if slot != last:
                moved = int(self.key_of[last])
                for array in self.arrays:
                    array[slot] = array[last]
                    array[last] = 0
                self.key_of[slot] = moved
                self.slot_of[moved] = slot
            else:
                for array in self.arrays:
                    array[last] = 0
            self.n = last
            removed += 1
        return removed

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays) + self.key_of.nbytes


def _check(vectors: np.ndarray, dim: int) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise IndexInputError(f"expected vectors of dimension {dim}, got shape {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise IndexInputError("vectors hold NaN or infinite values")
    return vectors


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest scores, best first."""
    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


class ExactIndex:
    kind = "exact"

    def __init__(self, dim: int):
        self.dim = dim
        self._rows = _Rows([(dim, np.dtype(np.float32))])

    def __len__(self) -> int:
        return self._rows.n

    def __contains__(self, key: object) -> bool:
        return isinstance(key, (int, np.integer)) and int(key) in self._rows.slot_of

    def reserve(self, total: int) -> None:
        """Room for ``total`` templates at once (a bulk load then never copies the matrix to grow it)."""
        self._rows._reserve(total - len(self), exact=True)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        vectors = _check(vectors, self.dim)
        self._rows.add(keys, [vectors])

    def remove(self, keys: np.ndarray | list[int]) -> int:
        return self._rows.remove(keys)

    def keys(self) -> np.ndarray:
        return self._rows.key_of[: self._rows.n].copy()

    def nbytes(self) -> int:
        return self._rows.nbytes()

    def vectors(self, keys: np.ndarray) -> np.ndarray:
        slots = [self._rows.slot_of[int(k)] for k in np.asarray(keys).reshape(-1)]
        return self._rows.arrays[0][slots].copy()

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = _check(query, self.dim)[0]
        n = self._rows.n
        if n == 0 or k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        with _one_blas_thread():
            scores = self._rows.arrays[0][:n] @ q
        best = _top_k(scores, k)
        return self._rows.key_of[best].copy(), scores[best].astype(np.float32)


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def _hamming_nearest(codes: np.ndarray, query_code: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the ``k`` codes nearest ``query_code`` and their Hamming distances (any order)."""
    n = len(codes)
    if _HAVE_FAISS:
        distance, positions = faiss.knn_hamming(query_code[None, :], codes, min(k, n))
        return positions[0].astype(np.int64), distance[0].astype(np.int64)
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        every = np.bitwise_count(codes.view(np.uint64) ^ query_code.view(np.uint64)).sum(
            axis=1, dtype=np.int64
        )
    else:
        every = _POPCOUNT[codes ^ query_code].sum(axis=1, dtype=np.int64)
    if k >= n:
        return np.arange(n), every
    nearest = np.argpartition(every, k - 1)[:k]
    return nearest, every[nearest]


class BinaryIndex:
    kind = "binary"

    def __init__(
        self, dim: int, code_bits: int = 256, candidates: int = 1024, seed: int = 0, scan_threads: int = 1
    ):
        if code_bits % 64:
            raise IndexInputError("code_bits must be a multiple of 64")
        self.dim = dim
        self.code_bits = code_bits
        self.candidates = candidates
        # faiss releases the GIL, so slices of the codes can be scanned at the same time
        self._pool = ThreadPoolExecutor(scan_threads, "edged-scan") if scan_threads > 1 else None
        self._slices = scan_threads
        rng = np.random.default_rng(seed)
        self._projection = rng.standard_normal((dim, code_bits), dtype=np.float32)
        self._rows = _Rows([(code_bits // 8, np.dtype(np.uint8)), (dim, np.dtype(np.float16))])
        if _HAVE_FAISS:
            faiss.omp_set_num_threads(1)  # one query at a time: threads only add contention here

    def __len__(self) -> int:
        return self._rows.n

    def __contains__(self, key: object) -> bool:
        return isinstance(key, (int, np.integer)) and int(key) in self._rows.slot_of

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        return np.packbits((vectors @ self._projection) > 0, axis=1)

    def reserve(self, total: int) -> None:
        """Room for ``total`` templates at once (a bulk load then never copies the arrays to grow them)."""
        self._rows._reserve(total - len(self), exact=True)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        vectors = _check(vectors, self.dim)
        self._rows.add(keys, [self.encode(vectors), vectors.astype(np.float16)])

    def remove(self, keys: np.ndarray | list[int]) -> int:
        return self._rows.remove(keys)

    def keys(self) -> np.ndarray:
        return self._rows.key_of[: self._rows.n].copy()

    def nbytes(self) -> int:
        return self._rows.nbytes() + self._projection.nbytes

    def _nearest_codes(self, codes: np.ndarray, code: np.ndarray, k: int) -> np.ndarray:
        n = len(codes)
        if self._pool is None or n < 16 * k or n < 65_536:
            return _hamming_nearest(codes, code, k)[0]
        bounds = np.linspace(0, n, self._slices + 1).astype(int)
        parts = [
            (start, self._pool.submit(_hamming_nearest, codes[start:end], code, k))
            for start, end in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        positions, distances = [], []
        for start, future in parts:
            found, dist = future.result()
            positions.append(found + start)
            distances.append(dist)
        all_positions, all_distances = np.concatenate(positions), np.concatenate(distances)
        return all_positions[np.argpartition(all_distances, k - 1)[:k]]

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = _check(query, self.dim)[0]
        n = self._rows.n
        if n == 0 or k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        codes, halves = self._rows.arrays[0][:n], self._rows.arrays[1][:n]
        with _one_blas_thread():
            code = self.encode(q[None, :])[0]
            candidates = self._nearest_codes(codes, code, max(self.candidates, k))
            scores = halves[candidates].astype(np.float32) @ q
        best = _top_k(scores, k)
        return self._rows.key_of[candidates[best]].copy(), scores[best]


def create_index(config: IndexConfig, dim: int, expected_size: int) -> ExactIndex | BinaryIndex:
    """The index kind ``config`` asks for (``auto``: exact up to ``exact_max`` templates)."""
    kind = config.type
    if kind == "auto":
        kind = "exact" if expected_size <= config.exact_max else "binary"
    index: ExactIndex | BinaryIndex
    if kind == "exact":
        index = ExactIndex(dim)
    else:
        index = BinaryIndex(dim, config.code_bits, config.candidates, config.seed, config.scan_threads)
    index.reserve(expected_size)
    return index
