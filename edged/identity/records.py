"""What the gallery holds about a person and what it hands back (no template bytes in here)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

PERSON_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,63}$")


class RecordError(ValueError):
    pass


def check_person_id(person_id: str) -> str:
    if not PERSON_ID.match(person_id):
        raise RecordError(
            f"person id {person_id!r}: 1-64 letters, digits or _ . @ : - (the first a letter or digit)"
        )
    return person_id


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


@dataclass(frozen=True)
class Person:
    person_id: str
    name: str
    consent_at: datetime
    consent_source: str
    credential: str | None = None  # card number presented to access panels (Wiegand/OSDP)
    groups: tuple[str, ...] = ()  # groups or lanes this person may pass
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def __post_init__(self) -> None:
        check_person_id(self.person_id)
        if not self.name.strip():
            raise RecordError(f"person {self.person_id}: empty name")
        if not self.consent_source.strip():
            raise RecordError(f"person {self.person_id}: consent source is required")
        if self.valid_from and self.valid_until and as_utc(self.valid_until) <= as_utc(self.valid_from):
            raise RecordError(f"person {self.person_id}: valid_until is not after valid_from")

    def valid_at(self, when: datetime | None = None) -> bool:
        when = as_utc(when or utc_now())
        if self.valid_from is not None and when < as_utc(self.valid_from):
            return False
        return not (self.valid_until is not None and when >= as_utc(self.valid_until))

    def may_pass(self, group: str) -> bool:
        return not self.groups or group in self.groups

    def to_json(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return as_utc(d).isoformat() if d else None

        return {
            "person_id": self.person_id,
            "name": self.name,
            "credential": self.credential,
            "groups": list(self.groups),
            "valid_from": iso(self.valid_from),
            "valid_until": iso(self.valid_until),
            "consent_at": iso(self.consent_at),
            "consent_source": self.consent_source,
        }


@dataclass
class NewTemplate:
    embedding: np.ndarray  # (dim,) float32, L2-normalised
    masked: bool = False
    quality: float = 0.0


@dataclass(frozen=True)
class Match:
    person: Person
    score: float  # cosine similarity of the best template of this person
    template_id: int


@dataclass
class ErasureReceipt:
    person_id: str
    erased_at: datetime
    templates_removed: int
    photos_removed: int
    index_entries_removed: int
    storage_compacted: bool
    template_ids: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "erased_at": as_utc(self.erased_at).isoformat(),
            "templates_removed": self.templates_removed,
            "photos_removed": self.photos_removed,
            "index_entries_removed": self.index_entries_removed,
            "storage_compacted": self.storage_compacted,
            "template_ids": self.template_ids,
        }
