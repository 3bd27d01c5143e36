from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from edged.identity.crypto import Cipher, IntegrityError, TemplateKeyError
from edged.identity.migrations import LATEST
from edged.identity.records import RecordError
from edged.identity.store import DuplicatePersonError, GalleryStore, StoreError, UnknownPersonError
from tests.unit.identity.conftest import MODEL, person, templates, unit_vectors

KEY = bytes(range(32))


def on_disk(db: Path) -> bytes:
    """Every byte SQLite keeps for this database: the file, its WAL and its rollback journal."""
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-journal")) if p.exists())


def fragments(vector: np.ndarray) -> list[bytes]:
    """16-byte pieces of a template as float32 and float16: none may appear anywhere on disk."""
    out = []
    for raw in (vector.astype(np.float32).tobytes(), vector.astype(np.float16).tobytes()):
        out.extend(raw[i : i + 16] for i in range(0, len(raw) - 16, 64))
    return out


def all_stored(store: GalleryStore) -> dict[int, np.ndarray]:
    return {
        int(t): v
        for batch in store.iter_templates(MODEL)
        for t, v in zip(batch.template_ids, batch.vectors, strict=True)
    }


def test_templates_round_trip_and_are_never_on_disk_in_the_clear(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    vectors = unit_vectors(6, seed=10)
    store = GalleryStore(db, Cipher(KEY))
    ids_a = store.add_person(person("alice"), templates(vectors[:3]), MODEL)
    ids_b = store.add_person(person("bob"), templates(vectors[3:]), MODEL)
    store.close()

    store = GalleryStore(db, Cipher(KEY))
    stored = all_stored(store)
    for tid, v in zip(ids_a + ids_b, vectors, strict=True):
        np.testing.assert_array_equal(stored[tid], v)
    store.close()

    raw = on_disk(db)
    assert b"alice" in raw  # the grep below can see plain content in this file
    for v in vectors:
        for piece in fragments(v):
            assert piece not in raw
    with sqlite3.connect(db) as plain:
        blobs = [bytes(b) for (b,) in plain.execute("SELECT ciphertext FROM templates")]
    assert len(blobs) == 6
    assert all(v.astype(np.float32).tobytes() not in blobs for v in vectors)


def test_schema_is_versioned(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    GalleryStore(db, Cipher(KEY)).close()
    with sqlite3.connect(db) as plain:
        assert plain.execute("PRAGMA user_version").fetchone()[0] == LATEST
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        plain.execute(f"PRAGMA user_version={LATEST + 1}")
    with pytest.raises(StoreError, match="newer than this edged"):
        GalleryStore(db, Cipher(KEY))


def test_wrong_key_is_refused_at_open(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    store = GalleryStore(db, Cipher(KEY))
    store.add_person(person("alice"), templates(unit_vectors(1)), MODEL)
    store.close()
    with pytest.raises(TemplateKeyError, match="does not open gallery"):
        GalleryStore(db, Cipher(bytes(32)))


def test_swapped_ciphertexts_are_detected(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    store = GalleryStore(db, Cipher(KEY))
    (a,) = store.add_person(person("alice"), templates(unit_vectors(1, seed=1)), MODEL)
    (b,) = store.add_person(person("bob"), templates(unit_vectors(1, seed=2)), MODEL)
    store.close()
    with sqlite3.connect(db) as plain:
        rows = {
            t: (n, c) for t, n, c in plain.execute("SELECT template_id, nonce, ciphertext FROM templates")
        }
        for tid, other in ((a, b), (b, a)):
            plain.execute(
                "UPDATE templates SET nonce=?, ciphertext=? WHERE template_id=?", (*rows[other], tid)
            )
    store = GalleryStore(db, Cipher(KEY))
    with pytest.raises(IntegrityError, match="does not authenticate"):
        all_stored(store)
    store.close()


def test_duplicates_and_bad_templates_leave_nothing_behind(tmp_path: Path) -> None:
    store = GalleryStore(tmp_path / "g.db", Cipher(KEY))
    store.add_person(person("alice", credential="1001"), templates(unit_vectors(2)), MODEL)
    with pytest.raises(DuplicatePersonError, match="already enrolled"):
        store.add_person(person("alice"), templates(unit_vectors(1, seed=3)), MODEL)
    with pytest.raises(DuplicatePersonError, match="credential"):
        store.add_person(person("carol", credential="1001"), templates(unit_vectors(1, seed=4)), MODEL)
    bad = unit_vectors(2, seed=5)
    bad[1, 0] = np.inf
    with pytest.raises(RecordError, match="NaN or infinite"):
        store.add_person(person("dave"), templates(bad), MODEL)
    assert [p.person_id for p in store.list_people()] == ["alice"]
    assert store.template_counts() == {MODEL: 2}
    store.close()


def test_erase_leaves_no_trace_in_the_file_or_its_free_pages(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    store = GalleryStore(db, Cipher(KEY))
    store.add_person(person("alice", "Alice Erasable"), templates(unit_vectors(3, seed=6)), MODEL)
    store.add_person(
        person("bob", "Bob Stays"), templates(unit_vectors(2, seed=7)), MODEL, photos=[b"JPEG" * 100]
    )
    with sqlite3.connect(db) as plain:
        secrets_of_alice = [
            bytes(n) + bytes(c)
            for n, c in plain.execute("SELECT nonce, ciphertext FROM templates WHERE person_id='alice'")
        ]
    raw = on_disk(db)
    assert all(s in raw for s in secrets_of_alice) and b"Alice Erasable" in raw

    erased = store.erase("alice")
    assert len(erased.template_ids) == 3 and erased.photos == 0
    raw = on_disk(db)
    for s in secrets_of_alice:
        assert s[12:40] not in raw
    assert b"Alice Erasable" not in raw
    assert b"Bob Stays" in raw
    assert store.get_person("alice") is None and store.template_counts() == {MODEL: 2}
    with pytest.raises(UnknownPersonError):
        store.erase("alice")
    store.close()


def test_a_corrupted_page_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    store = GalleryStore(db, Cipher(KEY))
    for i in range(60):
        store.add_person(person(f"p{i}"), templates(unit_vectors(2, seed=i)), MODEL)
    store.compact()
    store.close()
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert page == 16384 and len(data) > 4 * page
    for offset in range(3 * page, 3 * page + 200):  # scribble over the header of an interior page
        data[offset] = 0xA5
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupted|malformed"):
        GalleryStore(db, Cipher(KEY))


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="gallery database"):
        GalleryStore(db, Cipher(KEY))


def test_bulk_add_is_all_or_nothing(tmp_path: Path) -> None:
    store = GalleryStore(tmp_path / "g.db", Cipher(KEY))
    x = unit_vectors(3, seed=8)
    entries = [(person("a"), templates(x[:1]), ()), (person("b"), templates(x[1:2]), ())]
    with pytest.raises(DuplicatePersonError):
        store.add_people([*entries, (person("a"), templates(x[2:]), ())], MODEL)
    assert store.person_count() == 0 and store.template_counts() == {}
    assert [len(ids) for ids in store.add_people(entries, MODEL)] == [1, 1]
    store.close()


def test_an_empty_gallery_file_is_refused_unless_asked_to_create(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    db.write_bytes(b"")  # truncated to nothing (a full disk, a bad copy)
    with pytest.raises(StoreError, match="empty \\(0 bytes\\)"):
        GalleryStore(db, Cipher(KEY))
    assert db.stat().st_size == 0  # left as it was found
    GalleryStore(db, Cipher(KEY), create=True).close()
    GalleryStore(db, Cipher(KEY)).close()  # now a real (empty) gallery
