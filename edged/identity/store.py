"""SQLite (WAL) store of enrolled people and their templates; templates and photos only ever encrypted.

Deleted content is overwritten (``secure_delete``), and an erase ends with a WAL checkpoint and
``VACUUM`` so no copy of a template survives in free pages or the write-ahead log.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from edged.identity.crypto import Cipher, TemplateKeyError, photo_aad, template_aad
from edged.identity.migrations import LATEST, MIGRATIONS
from edged.identity.records import NewTemplate, Person, RecordError, as_utc, utc_now

log = logging.getLogger(__name__)

_PERSON_COLUMNS = "person_id, name, credential, groups, valid_from, valid_until, consent_at, consent_source"


class StoreError(Exception):
    """The database cannot be used: unreadable, corrupted, from a newer version."""


class DuplicatePersonError(StoreError):
    pass


class UnknownPersonError(StoreError):
    pass


@dataclass(frozen=True)
class ModelTag:
    """Which embedder made a template; templates of another tag are never compared."""

    model_id: str
    version: str


@dataclass
class TemplateBatch:
    template_ids: np.ndarray  # (n,) int64
    vectors: np.ndarray  # (n, dim) float32


@dataclass(frozen=True)
class Erased:
    template_ids: list[int]
    photos: int


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _person_from_row(row: Sequence[object]) -> Person:
    pid, name, credential, groups, vfrom, vuntil, consent_at, source = row
    consent = _dt(str(consent_at))
    assert consent is not None
    return Person(
        person_id=str(pid),
        name=str(name),
        credential=str(credential) if credential is not None else None,
        groups=tuple(json.loads(str(groups))),
        valid_from=_dt(vfrom if isinstance(vfrom, str) else None),
        valid_until=_dt(vuntil if isinstance(vuntil, str) else None),
        consent_at=consent,
        consent_source=str(source),
    )


def _new_row_id() -> int:
    """Random positive 62-bit ids: never reused after an erase, and safe as search-index keys."""
    return secrets.randbits(62) + 1


class GalleryStore:
    def __init__(self, path: Path, cipher: Cipher, *, integrity_check: bool = True, create: bool = False):
        """A missing file becomes a new gallery; an empty (0-byte) one is refused unless ``create``:
        SQLite would take it as a new, empty database, and a truncated gallery would admit nobody
        without a word."""
        self.path = Path(path)
        self._cipher = cipher
        self._lock = threading.RLock()
        if not create and self.path.is_file() and self.path.stat().st_size == 0:
            raise StoreError(
                f"gallery database {self.path} is empty (0 bytes): truncated or never written; "
                "restore it from a backup, or delete it to start a new gallery"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            # A 2 KiB encrypted template leaves half of a 4 KiB page empty; 16 KiB pages hold seven.
            # (Only takes effect when the file is created.)
            self._db.execute("PRAGMA page_size=16384")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA synchronous=NORMAL")
            if integrity_check:
                self._check_integrity()
            self._migrate()
            self._check_key()
            # Lookups for search results use their own connection so an erase's VACUUM does not stall them.
            self._reader = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._read_lock = threading.Lock()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(f"gallery database {self.path}: {exc} (restore it from a backup)") from None

    # --- opening -------------------------------------------------------------------------------
    def _check_integrity(self) -> None:
        problems = [str(r[0]) for r in self._db.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise StoreError(f"gallery database {self.path} is corrupted: {'; '.join(problems)}")

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > LATEST:
            raise StoreError(
                f"gallery database {self.path} has schema version {version}, newer than this edged ({LATEST})"
            )
        for step in range(version, LATEST):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={step + 1}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            log.info("gallery database %s migrated to schema %d", self.path, step + 1)

    def _check_key(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='key_check'").fetchone()
        if row is None:
            has_data = self._db.execute("SELECT EXISTS(SELECT 1 FROM templates)").fetchone()[0]
            if has_data:
                raise StoreError(f"gallery database {self.path}: templates present but no key check record")
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES('key_check', ?)", (self._cipher.key_check_record(),)
            )
            return
        if not self._cipher.matches_key_check(bytes(row[0])):
            raise TemplateKeyError(f"the template key does not open gallery {self.path} (wrong key file?)")

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._reader.close()
            self._db.close()

    # --- people ----------------------------------------------------------------------------------
    def add_person(
        self, person: Person, templates: Sequence[NewTemplate], model: ModelTag, photos: Sequence[bytes] = ()
    ) -> list[int]:
        """One transaction: the person, every template and photo, or nothing. Returns the template ids."""
        return self.add_people([(person, templates, photos)], model)[0]

    def add_people(
        self, entries: Sequence[tuple[Person, Sequence[NewTemplate], Sequence[bytes]]], model: ModelTag
    ) -> list[list[int]]:
        """Many people in one transaction (bulk imports): all of them or none."""
        now = utc_now().isoformat()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                ids = [self._insert_person(p, t, model, photos, now) for p, t, photos in entries]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return ids

    def _insert_person(
        self,
        person: Person,
        templates: Sequence[NewTemplate],
        model: ModelTag,
        photos: Sequence[bytes],
        now: str,
    ) -> list[int]:
        if self._exists(person.person_id):
            raise DuplicatePersonError(f"person {person.person_id!r} is already enrolled")
        if person.credential is not None:
            other = self._db.execute(
                "SELECT person_id FROM people WHERE credential=?", (person.credential,)
            ).fetchone()
            if other:
                raise DuplicatePersonError(
                    f"credential {person.credential!r} already belongs to {other[0]!r}"
                )
        self._db.execute(
            f"INSERT INTO people({_PERSON_COLUMNS}, created_at) VALUES(?,?,?,?,?,?,?,?,?)",
            (
                person.person_id,
                person.name,
                person.credential,
                json.dumps(list(person.groups)),
                _iso(person.valid_from),
                _iso(person.valid_until),
                _iso(person.consent_at),
                person.consent_source,
                now,
            ),
        )
        ids = self._insert_templates(person.person_id, templates, model, now)
        for photo in photos:
            photo_id = _new_row_id()
            nonce, ct = self._cipher.seal(photo, photo_aad(person.person_id, photo_id))
            self._db.execute(
                "INSERT INTO photos(photo_id, person_id, nonce, ciphertext, created_at) VALUES(?,?,?,?,?)",
                (photo_id, person.person_id, nonce, ct, now),
            )
        return ids

    def _insert_templates(
        self, person_id: str, templates: Sequence[NewTemplate], model: ModelTag, now: str
    ) -> list[int]:
        ids = []
        for t in templates:
            vector = np.ascontiguousarray(t.embedding, dtype=np.float32).reshape(-1)
            if not np.isfinite(vector).all():
                raise RecordError(f"person {person_id}: template holds NaN or infinite values")
            template_id = _new_row_id()
            nonce, ct = self._cipher.seal(
                vector.tobytes(), template_aad(person_id, template_id, model.model_id, model.version)
            )
            self._db.execute(
                "INSERT INTO templates(template_id, person_id, model_id, model_version, masked, quality,"
                " nonce, ciphertext, created_at) VALUES(?,?,?,?,?,?,?,?,?)",
                (
                    template_id,
                    person_id,
                    model.model_id,
                    model.version,
                    int(t.masked),
                    float(t.quality),
                    nonce,
                    ct,
                    now,
                ),
            )
            ids.append(template_id)
        return ids

    def replace_templates(
        self, person_id: str, templates: Sequence[NewTemplate], model: ModelTag
    ) -> tuple[list[int], list[int]]:
        """Swap every template of ``person_id`` for new ones in one transaction; returns (old, new) ids."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if not self._exists(person_id):
                    raise UnknownPersonError(f"no enrolled person {person_id!r}")
                old = [
                    int(r[0])
                    for r in self._db.execute(
                        "SELECT template_id FROM templates WHERE person_id=?", (person_id,)
                    )
                ]
                self._db.execute("DELETE FROM templates WHERE person_id=?", (person_id,))
                new = self._insert_templates(person_id, templates, model, utc_now().isoformat())
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return old, new

    def _exists(self, person_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM people WHERE person_id=?", (person_id,)).fetchone() is not None

    def template_ids(self, person_id: str) -> list[int]:
        with self._lock:
            rows = self._db.execute("SELECT template_id FROM templates WHERE person_id=?", (person_id,))
            return [int(r[0]) for r in rows]

    def has_person(self, person_id: str) -> bool:
        with self._lock:
            return self._exists(person_id)

    def get_person(self, person_id: str) -> Person | None:
        with self._read_lock:
            row = self._reader.execute(
                f"SELECT {_PERSON_COLUMNS} FROM people WHERE person_id=?", (person_id,)
            ).fetchone()
        return _person_from_row(row) if row else None

    def list_people(self) -> list[Person]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_PERSON_COLUMNS} FROM people ORDER BY person_id").fetchall()
        return [_person_from_row(r) for r in rows]

    def owners(self, template_ids: Sequence[int]) -> dict[int, str]:
        """Person id of each template id (for search results)."""
        if not template_ids:
            return {}
        marks = ",".join("?" * len(template_ids))
        with self._read_lock:
            rows = self._reader.execute(
                f"SELECT template_id, person_id FROM templates WHERE template_id IN ({marks})",
                [int(t) for t in template_ids],
            ).fetchall()
        return {int(t): str(p) for t, p in rows}

    def template_counts(self) -> dict[ModelTag, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT model_id, model_version, COUNT(*) FROM templates GROUP BY model_id, model_version"
            ).fetchall()
        return {ModelTag(str(m), str(v)): int(n) for m, v, n in rows}

    def person_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM people").fetchone()[0])

    # --- templates -------------------------------------------------------------------------------
    def iter_templates(self, model: ModelTag, batch: int = 10_000) -> Iterator[TemplateBatch]:
        """Decrypted templates of ``model`` in batches; a row that does not authenticate raises."""
        last = -1
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT template_id, person_id, nonce, ciphertext FROM templates"
                    " WHERE model_id=? AND model_version=? AND template_id>? ORDER BY template_id LIMIT ?",
                    (model.model_id, model.version, last, batch),
                ).fetchall()
            if not rows:
                return
            ids = np.empty(len(rows), np.int64)
            vectors: list[np.ndarray] = []
            for i, (tid, pid, nonce, ct) in enumerate(rows):
                plain = self._cipher.open(
                    bytes(nonce),
                    bytes(ct),
                    template_aad(str(pid), int(tid), model.model_id, model.version),
                    f"template {tid} of person {pid!r}",
                )
                ids[i] = int(tid)
                vectors.append(np.frombuffer(plain, np.float32))
            last = int(ids[-1])
            yield TemplateBatch(ids, np.stack(vectors))

    def sample_templates(self, model: ModelTag, n: int) -> TemplateBatch:
        """Up to ``n`` decrypted templates of ``model`` chosen at random (to check the index against)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT template_id, person_id, nonce, ciphertext FROM templates"
                " WHERE model_id=? AND model_version=? ORDER BY RANDOM() LIMIT ?",
                (model.model_id, model.version, n),
            ).fetchall()
        ids = np.array([int(r[0]) for r in rows], np.int64)
        vectors = [
            np.frombuffer(
                self._cipher.open(
                    bytes(nonce),
                    bytes(ct),
                    template_aad(str(pid), int(tid), model.model_id, model.version),
                    f"template {tid} of person {pid!r}",
                ),
                np.float32,
            )
            for tid, pid, nonce, ct in rows
        ]
        return TemplateBatch(ids, np.stack(vectors) if vectors else np.empty((0, 0), np.float32))

    def photos(self, person_id: str) -> list[bytes]:
        with self._lock:
            rows = self._db.execute(
                "SELECT photo_id, nonce, ciphertext FROM photos WHERE person_id=? ORDER BY photo_id",
                (person_id,),
            ).fetchall()
        return [
            self._cipher.open(
                bytes(n), bytes(c), photo_aad(person_id, int(pid)), f"photo {pid} of {person_id!r}"
            )
            for pid, n, c in rows
        ]

    # --- erase -----------------------------------------------------------------------------------
    def erase(self, person_id: str, *, compact: bool = True) -> Erased:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if not self._exists(person_id):
                    raise UnknownPersonError(f"no enrolled person {person_id!r}")
                ids = [
                    int(r[0])
                    for r in self._db.execute(
                        "SELECT template_id FROM templates WHERE person_id=?", (person_id,)
                    )
                ]
                photos = int(
                    self._db.execute(
                        "SELECT COUNT(*) FROM photos WHERE person_id=?", (person_id,)
                    ).fetchone()[0]
                )
                self._db.execute("DELETE FROM templates WHERE person_id=?", (person_id,))
                self._db.execute("DELETE FROM photos WHERE person_id=?", (person_id,))
                self._db.execute("DELETE FROM people WHERE person_id=?", (person_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if compact:
                self.compact()
        return Erased(ids, photos)

    def compact(self) -> bool:
        """Fold the WAL into the file, rebuild the file without free pages, and empty the WAL again.
        False when a reader kept the WAL from being emptied (the next compaction finishes the job)."""
        with self._lock:
            self._checkpoint()
            self._db.execute("VACUUM")
            return self._checkpoint()

    def _checkpoint(self, tries: int = 50) -> bool:
        for _ in range(tries):
            busy = int(self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
            if not busy:
                return True
            time.sleep(0.02)
        return False
