"""Enrollment with the real face pipeline on real LFW photos (models and data from the shared fixtures).

LFW photos are press photos: the RGB liveness model scores some of them as spoofs. The first test
enrolls with the default checks (liveness on) from photos it accepts; one test shows a photo it
rejects, with the reason; the others turn liveness off to test the remaining checks on their own.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest

from edged.identity.config import EnrollmentConfig, IdentityConfig
from edged.identity.crypto import write_new_key
from edged.identity.enrollment import Enroller, EnrollmentError, reembed
from edged.identity.gallery import Gallery, embedder_tag
from edged.identity.records import Person, utc_now
from edged.identity.store import DuplicatePersonError, ModelTag
from edged.vision.config import VisionConfig
from edged.vision.pipeline import FacePipeline
from tests.unit.identity.cli_helper import run_cli

TAG = embedder_tag(VisionConfig())  # the pipeline's defaults


@pytest.fixture(scope="module")
def pipeline(models_dir: Path) -> FacePipeline:
    return FacePipeline(models_dir)


@pytest.fixture(scope="module")
def lfw(shared_data: Path) -> Path:
    return shared_data / "lfw" / "lfw-deepfunneled"


def photo(lfw: Path, name: str, i: int) -> Path:
    return lfw / name / f"{name}_{i:04d}.jpg"


def who(pid: str, name: str = "Test Person") -> Person:
    return Person(person_id=pid, name=name, consent_at=utc_now(), consent_source="integration test")


@pytest.fixture
def config(tmp_path: Path) -> IdentityConfig:
    key = tmp_path / "key"
    write_new_key(key)
    return IdentityConfig.model_validate(
        {
            "database": str(tmp_path / "gallery.db"),
            "template_key": {"file": str(key)},
            "enrollment": {"require_liveness": False},
        }
    )


def counts(gallery: Gallery) -> tuple[int, int]:
    return gallery.store.person_count(), sum(gallery.store.template_counts().values())


def test_enrolled_person_is_found_from_another_photo(
    pipeline: FacePipeline, lfw: Path, config: IdentityConfig
) -> None:
    with Gallery.open(config, TAG) as gallery:
        enroller = Enroller(pipeline, gallery, EnrollmentConfig())  # default checks, liveness included
        enroller.enroll(who("abel"), [photo(lfw, "Abel_Pacheco", 1)])
        enroller.enroll(who("akhmed"), [photo(lfw, "Akhmed_Zakayev", 1), photo(lfw, "Akhmed_Zakayev", 2)])
        enroller.enroll(who("angela"), [photo(lfw, "Angela_Bassett", 1)])
        assert counts(gallery) == (3, 4)
        for name, i, pid in (
            ("Abel_Pacheco", 4, "abel"),
            ("Akhmed_Zakayev", 3, "akhmed"),
            ("Angela_Bassett", 5, "angela"),
        ):
            faces = pipeline.analyse(cv2.imread(str(photo(lfw, name, i))), liveness=False)
            assert faces[0].embedding is not None
            best = gallery.search(faces[0].embedding, k=2)
            assert best[0].person.person_id == pid
            assert best[0].score > 0.36 > best[1].score  # the shipped unmasked match threshold


def test_liveness_check_rejects_a_press_photo(
    pipeline: FacePipeline, lfw: Path, config: IdentityConfig
) -> None:
    with Gallery.open(config, TAG) as gallery:
        enroller = Enroller(pipeline, gallery, EnrollmentConfig(require_liveness=True))
        with pytest.raises(EnrollmentError, match="not live") as err:
            enroller.enroll(who("abel"), [photo(lfw, "Abel_Pacheco", 4)])
        assert err.value.checks[0].face is not None and err.value.checks[0].face.liveness is not None
        assert counts(gallery) == (0, 0)


def test_bad_photos_are_rejected_with_reasons_and_nothing_is_stored(
    pipeline: FacePipeline, lfw: Path, config: IdentityConfig, tmp_path: Path
) -> None:
    left = cv2.imread(str(photo(lfw, "Abel_Pacheco", 1)))
    right = cv2.imread(str(photo(lfw, "Angela_Bassett", 1)))
    two = tmp_path / "two_faces.jpg"
    cv2.imwrite(str(two), np.hstack([left, right]))
    empty = tmp_path / "no_face.png"
    gradient = np.tile(np.linspace(0, 255, 300, dtype=np.uint8), (200, 1))
    cv2.imwrite(str(empty), cv2.merge([gradient, gradient[:, ::-1], gradient]))
    text = tmp_path / "not_an_image.jpg"
    text.write_text("id,name\n1,nobody\n")
    tiny = tmp_path / "tiny.jpg"
    cv2.imwrite(str(tiny), cv2.resize(left, (125, 125)))
    good = photo(lfw, "Akhmed_Zakayev", 1)

    with Gallery.open(config, TAG) as gallery:
        enroller = Enroller(pipeline, gallery, config.enrollment)
        expected = {
            two: "2 faces found",
            empty: "no face found",
            text: "not a usable image",
            tiny: "too small",
        }
        for bad, reason in expected.items():
            with pytest.raises(EnrollmentError) as err:
                enroller.enroll(who("akhmed"), [good, bad])  # one good photo does not save a bad one
            reasons = {c.source: c.reasons for c in err.value.checks}
            assert reasons[str(good)] == []
            assert any(reason in r for r in reasons[str(bad)]), reasons[str(bad)]
            assert counts(gallery) == (0, 0)
        enroller.enroll(who("akhmed"), [good])
        with pytest.raises(DuplicatePersonError, match="already enrolled"):
            enroller.enroll(who("akhmed"), [photo(lfw, "Akhmed_Zakayev", 2)])
        assert counts(gallery) == (1, 1)


def test_reembed_uses_kept_photos_only(pipeline: FacePipeline, lfw: Path, tmp_path: Path) -> None:
    key = tmp_path / "key"
    write_new_key(key)
    base = {"database": str(tmp_path / "g.db"), "template_key": {"file": str(key)}}
    keep = IdentityConfig.model_validate(
        {**base, "enrollment": {"require_liveness": False, "keep_photos": True}}
    )
    drop = IdentityConfig.model_validate({**base, "enrollment": {"require_liveness": False}})
    old = ModelTag("fr_feature", "an-older-version")
    with Gallery.open(keep, old) as gallery:
        Enroller(pipeline, gallery, keep.enrollment).enroll(who("kept"), [photo(lfw, "Abel_Pacheco", 1)])
        Enroller(pipeline, gallery, drop.enrollment).enroll(who("dropped"), [photo(lfw, "Angela_Bassett", 1)])
    with Gallery.open(keep, TAG) as gallery:
        assert len(gallery) == 0  # a model change makes old templates unsearchable
        report = reembed(gallery, pipeline)
        assert report.reembedded == ["kept"] and report.need_reenrollment == ["dropped"]
        probe = pipeline.analyse(cv2.imread(str(photo(lfw, "Abel_Pacheco", 4))), liveness=False)[0]
        assert probe.embedding is not None
        assert gallery.search(probe.embedding)[0].person.person_id == "kept"
        assert gallery.store.template_counts() == {old: 1, TAG: 1}


def test_cli_enroll_batch_and_erase_leave_no_trace(
    lfw: Path, models_dir: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "key"
    assert run_cli(["gallery", "keygen", "--out", str(key)]) == 0
    db = tmp_path / "gallery.db"
    config = tmp_path / "edged.yaml"
    config.write_text(
        f"models:\n  dir: {models_dir}\n"
        f"identity:\n  database: {db}\n  template_key:\n    file: {key}\n"
        "  enrollment:\n    require_liveness: false\n"
    )
    argv = ["enroll", "-c", str(config), "--id", "abel", "--name", "Abel Erasable", "--credential", "7001",
            "--consent-source", "form 1", "--json", str(photo(lfw, "Abel_Pacheco", 1))]  # fmt: skip
    assert run_cli(argv) == 0
    assert json.loads(capsys.readouterr().out)["enrolled"] == 1

    (tmp_path / "two.jpg").write_bytes(b"not a jpeg")
    batch = tmp_path / "people.csv"
    batch.write_text(
        "id,name,photos,groups\n"
        f"angela,Angela,{photo(lfw, 'Angela_Bassett', 1)},lane-1;lane-2\n"
        f"broken,Broken,{photo(lfw, 'Akhmed_Zakayev', 1)};two.jpg,\n"
        f"abel,Abel Again,{photo(lfw, 'Abel_Pacheco', 4)},\n"
    )
    assert (
        run_cli(["enroll", "-c", str(config), "--batch", str(batch), "--consent-source", "csv", "--json"])
        == 1
    )
    out = json.loads(capsys.readouterr().out)
    assert (out["enrolled"], out["failed"]) == (1, 2)
    assert run_cli(["gallery", "list", "-c", str(config), "--json"]) == 0
    listed = {p["person_id"]: p for p in json.loads(capsys.readouterr().out)["people"]}
    assert set(listed) == {"abel", "angela"} and listed["angela"]["groups"] == ["lane-1", "lane-2"]

    with sqlite3.connect(db) as plain:
        ciphertexts = [
            bytes(c) for (c,) in plain.execute("SELECT ciphertext FROM templates WHERE person_id='abel'")
        ]
    assert len(ciphertexts) == 1
    assert run_cli(["gallery", "erase", "abel", "-c", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["templates_removed"] == 1
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("gallery.db*"))
    assert b"Abel Erasable" not in raw and ciphertexts[0][:32] not in raw
    assert b"Angela" in raw
