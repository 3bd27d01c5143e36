"""Versioned schema of the gallery database; ``PRAGMA user_version`` says which steps have run."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: people, encrypted templates, optional encrypted enrollment photos, key check.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE people (
        person_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        credential TEXT UNIQUE,
        groups TEXT NOT NULL DEFAULT '[]',
        valid_from TEXT,
        valid_until TEXT,
        consent_at TEXT NOT NULL,
        consent_source TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE templates (
        template_id INTEGER PRIMARY KEY,
        person_id TEXT NOT NULL REFERENCES people(person_id) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        model_version TEXT NOT NULL,
        masked INTEGER NOT NULL,
        quality REAL NOT NULL,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX templates_person ON templates(person_id);
    CREATE INDEX templates_model ON templates(model_id, model_version);
    CREATE TABLE photos (
        photo_id INTEGER PRIMARY KEY,
        person_id TEXT NOT NULL REFERENCES people(person_id) ON DELETE CASCADE,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX photos_person ON photos(person_id);
    """,
)

LATEST = len(MIGRATIONS)
