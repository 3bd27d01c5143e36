from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edged.identity import index as index_module
from edged.identity.config import IndexConfig
from edged.identity.index import BinaryIndex, ExactIndex, IndexInputError, create_index
from tests.unit.identity.conftest import unit_vectors

KINDS = [lambda: ExactIndex(64), lambda: BinaryIndex(64, code_bits=128, candidates=64)]


@pytest.mark.parametrize("make", KINDS, ids=["exact", "binary"])
def test_finds_each_stored_vector_first(make) -> None:  # type: ignore[no-untyped-def]
    ix = make()
    x = unit_vectors(3000, 64)
    keys = np.arange(3000, dtype=np.int64) * 7 + 11
    ix.add(keys, x)
    for i in (0, 1234, 2999):
        found, scores = ix.search(x[i], 3)
        assert found[0] == keys[i]
        assert scores[0] == pytest.approx(1.0, abs=2e-3)
        assert scores[0] >= scores[1] >= scores[2]


@pytest.mark.parametrize("make", KINDS, ids=["exact", "binary"])
def test_remove_then_add_keeps_every_other_key_findable(make) -> None:  # type: ignore[no-untyped-def]
    ix = make()
    x = unit_vectors(500, 64, seed=1)
    ix.add(np.arange(500), x)
    assert ix.remove([0, 250, 499, 12345]) == 3  # unknown keys are ignored
    assert len(ix) == 497
    assert 250 not in ix and 251 in ix
    for i in (1, 249, 251, 498):
        assert ix.search(x[i], 1)[0][0] == i
    assert ix.search(x[250], 1)[0][0] != 250
    ix.add(np.array([250]), x[250])
    assert ix.search(x[250], 1)[0][0] == 250
    assert sorted(ix.keys().tolist()) == [k for k in range(500) if k not in (0, 499)]


@pytest.mark.parametrize("make", KINDS, ids=["exact", "binary"])
def test_bad_input_is_refused_and_changes_nothing(make) -> None:  # type: ignore[no-untyped-def]
    ix = make()
    ix.add(np.arange(3), unit_vectors(3, 64))
    with pytest.raises(IndexInputError, match="dimension"):
        ix.add(np.array([9]), unit_vectors(1, 32))
    bad = unit_vectors(1, 64)
    bad[0, 3] = np.nan
    with pytest.raises(IndexInputError, match="NaN"):
        ix.add(np.array([9]), bad)
    with pytest.raises(IndexInputError, match="already"):
        ix.add(np.array([2]), unit_vectors(1, 64))
    with pytest.raises(IndexInputError, match="duplicate"):
        ix.add(np.array([5, 5]), unit_vectors(2, 64))
    assert len(ix) == 3 and 9 not in ix and 5 not in ix


def test_empty_index_returns_nothing() -> None:
    for ix in (ExactIndex(8), BinaryIndex(8, code_bits=64)):
        keys, scores = ix.search(unit_vectors(1, 8)[0], 5)
        assert len(keys) == 0 and len(scores) == 0


def test_binary_index_agrees_with_exact_search_on_planted_matches() -> None:
    dim, n = 512, 20_000
    x = unit_vectors(n, dim, seed=3)
    exact, binary = ExactIndex(dim), BinaryIndex(dim, code_bits=256, candidates=256)
    exact.add(np.arange(n), x)
    binary.add(np.arange(n), x)
    rng = np.random.default_rng(4)
    agree = 0
    for target in rng.integers(0, n, 100):
        noise = rng.standard_normal(dim).astype(np.float32)
        noise -= noise.dot(x[target]) * x[target]
        q = 0.6 * x[target] + 0.8 * noise / np.linalg.norm(noise)
        e_keys, e_scores = exact.search(q, 1)
        b_keys, b_scores = binary.search(q, 1)
        agree += int(e_keys[0] == b_keys[0])
        if e_keys[0] == b_keys[0]:
            assert b_scores[0] == pytest.approx(e_scores[0], abs=2e-3)  # re-scored from float16 copies
    assert agree >= 99


def test_numpy_hamming_path_matches_faiss(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (4000, 32), dtype=np.uint8)
    query = codes[17].copy()
    query[0] ^= 1  # one bit away from row 17

    def distances(positions: np.ndarray) -> list[int]:
        return sorted(int(np.unpackbits(codes[p] ^ query).sum()) for p in positions)

    positions, reported = index_module._hamming_nearest(codes, query, 50)
    with_default = distances(positions)
    assert sorted(reported.tolist()) == with_default
    monkeypatch.setattr(index_module, "_HAVE_FAISS", False)
    positions, reported = index_module._hamming_nearest(codes, query, 50)
    with_numpy = distances(positions)
    assert sorted(reported.tolist()) == with_numpy == with_default
    assert with_numpy[0] == 1


def test_auto_picks_by_size() -> None:
    cfg = IndexConfig(type="auto", exact_max=100)
    assert create_index(cfg, 16, 100).kind == "exact"
    assert create_index(cfg, 16, 101).kind == "binary"
    assert create_index(IndexConfig(type="binary"), 16, 1).kind == "binary"


def test_code_bits_must_be_a_multiple_of_64() -> None:
    with pytest.raises(ValueError, match="multiple of 64"):
        IndexConfig(code_bits=100)


def test_scanning_in_slices_finds_the_same_candidates() -> None:
    dim, n = 128, 70_000
    x = unit_vectors(n, dim, seed=6)
    one = BinaryIndex(dim, code_bits=128, candidates=64, scan_threads=1)
    three = BinaryIndex(dim, code_bits=128, candidates=64, scan_threads=3)
    for ix in (one, three):
        ix.add(np.arange(n), x)
    for i in (0, 33_333, 69_999):
        code = one.encode(x[i : i + 1])[0]
        codes = one._rows.arrays[0][:n]
        a = one._nearest_codes(codes, code, 64)
        b = three._nearest_codes(codes, code, 64)
        dist_a, dist_b = (sorted(int(np.unpackbits(codes[j] ^ code).sum()) for j in p) for p in (a, b))
        assert dist_a == dist_b and dist_b[0] == 0
        assert three.search(x[i], 1)[0][0] == i


def test_lookup_table_popcount_matches_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    codes = np.random.default_rng(7).integers(0, 256, (500, 16), dtype=np.uint8)
    monkeypatch.setattr(index_module, "_HAVE_FAISS", False)
    _, with_numpy = index_module._hamming_nearest(codes, codes[3], 500)
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    _, with_table = index_module._hamming_nearest(codes, codes[3], 500)
    expected = [int(np.unpackbits(c ^ codes[3]).sum()) for c in codes]
    assert with_numpy.tolist() == with_table.tolist() == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=60))
def test_any_sequence_of_adds_and_removes_keeps_the_bookkeeping_right(ops: list[tuple[bool, int]]) -> None:
    vectors = unit_vectors(41, 32, seed=9)
    ix, model = ExactIndex(32), set()
    for add, key in ops:
        if add and key not in model:
            ix.add(np.array([key]), vectors[key])
            model.add(key)
        elif not add:
            assert ix.remove([key]) == int(key in model)
            model.discard(key)
    assert sorted(ix.keys().tolist()) == sorted(model) and len(ix) == len(model)
    for key in model:
        assert ix.search(vectors[key], 1)[0][0] == key
