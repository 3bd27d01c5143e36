"""Enrollment from photos: every photo is checked (one face, size, sharpness, pose, liveness) before
anything is stored, and a person is stored with all their templates or not at all."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edged.identity.config import EnrollmentConfig
from edged.identity.gallery import Gallery
from edged.identity.records import NewTemplate, Person
from edged.identity.store import DuplicatePersonError
from edged.vision.faces import Face
from edged.vision.image_io import ImageError, decode_image, read_image_bytes

log = logging.getLogger(__name__)


class FaceAnalyser(Protocol):
    """What enrollment needs from :class:`edged.vision.pipeline.FacePipeline`."""

    def analyse(
        self, bgr: np.ndarray, *, embed: bool = True, liveness: bool = True, mask: bool = True
    ) -> list[Face]: ...


class EnrollmentError(Exception):
    """A person was not enrolled; ``checks`` says why for every photo."""

    def __init__(self, message: str, checks: Sequence[PhotoCheck] = ()):
        super().__init__(message)
        self.checks = list(checks)


@dataclass
class PhotoCheck:
    source: str
    reasons: list[str] = field(default_factory=list)
    face: Face | None = None
    data: bytes = b""

    @property
    def ok(self) -> bool:
        return not self.reasons and self.face is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"photo": self.source, "ok": self.ok, "reasons": self.reasons}
        if self.face is not None and self.face.quality is not None:
            q = self.face.quality
            out["face_px"] = round(q.face_px, 1)
            out["sharpness"] = round(q.sharpness, 1)
            out["yaw_deg"] = round(q.yaw_deg, 1)
            out["pitch_deg"] = round(q.pitch_deg, 1)
        if self.face is not None and self.face.liveness is not None:
            out["liveness"] = round(float(self.face.liveness), 4)
        return out


@dataclass
class EnrollmentResult:
    person: Person
    template_ids: list[int]
    checks: list[PhotoCheck]
    photos_kept: int

    def to_json(self) -> dict[str, Any]:
        return {
            "person": self.person.to_json(),
            "templates": len(self.template_ids),
            "photos_kept": self.photos_kept,
            "photos": [c.to_json() for c in self.checks],
        }


def decode_photo(data: bytes, source: str) -> np.ndarray:
    """A photo from outside (file, MQTT command, kept photo), decoded within the size and pixel bounds."""
    return decode_image(data, source)


class Enroller:
    def __init__(self, pipeline: FaceAnalyser, gallery: Gallery, config: EnrollmentConfig):
        self.pipeline = pipeline
        self.gallery = gallery
        self.config = config

    def check(self, data: bytes, source: str) -> PhotoCheck:
        """Decode and analyse one photo; every reason it cannot be used, in words."""
        result = PhotoCheck(source, data=data)
        try:
            bgr = decode_photo(data, source)
        except ImageError as exc:
            result.reasons.append(f"not a usable image: {exc}")
            return result
        cfg = self.config
        faces = self.pipeline.analyse(bgr, embed=True, liveness=cfg.require_liveness, mask=True)
        if not faces:
            result.reasons.append("no face found")
            return result
        faces.sort(key=lambda f: -f.width)
        main = faces[0]
        others = [f for f in faces[1:] if f.width >= cfg.second_face_ratio * main.width]
        if others:
            result.reasons.append(f"{1 + len(others)} faces found (one person per photo)")
        result.face = main
        q = main.quality
        if main.width < cfg.min_face_px:
            result.reasons.append(f"face too small ({main.width:.0f} px wide, at least {cfg.min_face_px})")
        if q is not None and q.sharpness < cfg.min_sharpness:
            result.reasons.append(f"blurred (sharpness {q.sharpness:.0f}, at least {cfg.min_sharpness:.0f})")
        if q is not None and (abs(q.yaw_deg) > cfg.max_yaw_deg or abs(q.pitch_deg) > cfg.max_pitch_deg):
            result.reasons.append(
                f"not frontal (yaw {q.yaw_deg:.0f}°, pitch {q.pitch_deg:.0f}°; at most "
                f"{cfg.max_yaw_deg:.0f}° and {cfg.max_pitch_deg:.0f}°)"
            )
        if cfg.require_liveness and (main.liveness is None or main.liveness < cfg.min_liveness):
            score = "none" if main.liveness is None else f"{main.liveness:.2f}"
            result.reasons.append(f"not live (RGB liveness {score}, at least {cfg.min_liveness:.2f})")
        if main.embedding is None:
            result.reasons.append("no embedding computed")
        return result

    def check_files(self, paths: Sequence[Path]) -> list[PhotoCheck]:
        checks = []
        for path in paths:
            try:
                data = read_image_bytes(path)
            except ImageError as exc:
                checks.append(PhotoCheck(str(path), [str(exc).removeprefix(f"{path}: ")]))
                continue
            checks.append(self.check(data, str(path)))
        return checks

    def enroll(self, person: Person, photos: Sequence[Path]) -> EnrollmentResult:
        """Check every photo, then store the person with one template per photo; all or nothing."""
        if not photos:
            raise EnrollmentError(f"person {person.person_id}: no photos given")
        if len(photos) > self.config.max_photos:
            raise EnrollmentError(
                f"person {person.person_id}: {len(photos)} photos, at most {self.config.max_photos}"
            )
        if self.gallery.person(person.person_id) is not None:
            raise DuplicatePersonError(f"person {person.person_id!r} is already enrolled")
        checks = self.check_files(photos)
        bad = [c for c in checks if not c.ok]
        if bad:
            detail = "; ".join(f"{c.source}: {', '.join(c.reasons)}" for c in bad)
            raise EnrollmentError(f"person {person.person_id} not enrolled: {detail}", checks)
        templates = [_template(c.face) for c in checks if c.face is not None]
        kept = [c.data for c in checks] if self.config.keep_photos else []
        ids = self.gallery.add(person, templates, kept)
        log.info("enrolled %s with %d templates", person.person_id, len(ids))
        return EnrollmentResult(person, ids, checks, len(kept))


def _template(face: Face) -> NewTemplate:
    assert face.embedding is not None
    masked = face.mask is not None and face.mask.state != "no_mask"
    quality = face.quality.score() if face.quality is not None else 0.0
    return NewTemplate(np.asarray(face.embedding, np.float32), masked=masked, quality=quality)


@dataclass
class ReembedReport:
    reembedded: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    need_reenrollment: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "reembedded": self.reembedded,
            "up_to_date": len(self.up_to_date),
            "need_reenrollment": self.need_reenrollment,
            "failed": self.failed,
        }


def reembed(gallery: Gallery, pipeline: FaceAnalyser) -> ReembedReport:
    """Rebuild templates for the current embedder from kept photos; people without kept photos
    must enroll again (the default keeps none)."""
    report = ReembedReport()
    current = set(gallery.index.keys().tolist())
    for person in gallery.store.list_people():
        pid = person.person_id
        ids = gallery.store.template_ids(pid)
        if ids and all(t in current for t in ids):
            report.up_to_date.append(pid)
            continue
        photos = gallery.store.photos(pid)
        if not photos:
            report.need_reenrollment.append(pid)
            continue
        templates = []
        for n, data in enumerate(photos):
            faces = pipeline.analyse(decode_photo(data, f"{pid} photo {n + 1}"), liveness=False)
            faces = [f for f in faces if f.embedding is not None]
            if faces:
                templates.append(_template(max(faces, key=lambda f: f.width)))
        if not templates:
            report.failed[pid] = "no face found in the kept photos"
            continue
        gallery.replace_templates(pid, templates)
        report.reembedded.append(pid)
    return report
