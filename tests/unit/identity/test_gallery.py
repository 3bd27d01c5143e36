from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from edged.identity.config import IdentityConfig
from edged.identity.crypto import Cipher, TemplateKeyError, load_key, write_new_key
from edged.identity.gallery import Gallery, embedder_tag, model_dim
from edged.identity.records import NewTemplate
from edged.identity.store import GalleryStore, ModelTag
from edged.vision.config import VisionConfig
from tests.unit.identity.conftest import MODEL, person, templates, unit_vectors


def near(v: np.ndarray, cos: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(v.shape).astype(np.float32)
    noise -= noise.dot(v) * v
    return cos * v + np.sqrt(1 - cos**2) * noise / np.linalg.norm(noise)


def test_search_finds_the_person_and_aggregates_templates(identity_config: IdentityConfig) -> None:
    x = unit_vectors(30, seed=20)
    with Gallery.open(identity_config, MODEL) as g:
        for i in range(10):
            g.add(
                person(f"p{i}", groups=("lane-1",), credential=str(9000 + i)), templates(x[3 * i : 3 * i + 3])
            )
        matches = g.search(near(x[13], 0.7, seed=1), k=3)
        assert matches[0].person.person_id == "p4"
        assert matches[0].person.credential == "9004" and matches[0].person.may_pass("lane-1")
        assert matches[0].score == pytest.approx(0.7, abs=0.05)
        assert len({m.person.person_id for m in matches}) == 3  # one entry per person
        assert matches[0].score >= matches[1].score >= matches[2].score


def test_reopen_rebuilds_and_verifies_the_index(identity_config: IdentityConfig) -> None:
    x = unit_vectors(20, seed=21)
    with Gallery.open(identity_config, MODEL) as g:
        for i in range(20):
            g.add(person(f"p{i}"), templates(x[i : i + 1]))
        g.erase("p3")
    with Gallery.open(identity_config, MODEL) as g:
        report = g.last_verify
        assert report is not None and report.ok
        assert report.templates_in_index == 19 == len(g)
        assert report.self_check_hits == report.self_checks == 19
        assert g.search(x[7])[0].person.person_id == "p7"
        assert all(m.person.person_id != "p3" for m in g.search(x[3], k=19))


def test_erase_removes_templates_from_index_and_returns_a_receipt(identity_config: IdentityConfig) -> None:
    x = unit_vectors(4, seed=22)
    with Gallery.open(identity_config, MODEL) as g:
        ids = g.add(person("alice"), templates(x[:2]))
        g.add(person("bob"), templates(x[2:]))
        receipt = g.erase("alice")
        assert receipt.templates_removed == 2 == receipt.index_entries_removed
        assert sorted(receipt.template_ids) == sorted(ids)
        assert receipt.storage_compacted
        assert all(t not in g.index for t in ids)
        assert g.search(x[0])[0].person.person_id == "bob"
        assert g.person("alice") is None
        assert receipt.to_json()["person_id"] == "alice"


def test_templates_of_another_embedder_are_not_searched(identity_config: IdentityConfig) -> None:
    x = unit_vectors(2, seed=23)
    with Gallery.open(identity_config, ModelTag("old-embedder", "1")) as g:
        g.add(person("old"), templates(x[:1]))
    with Gallery.open(identity_config, MODEL) as g:
        g.add(person("new"), templates(x[1:]))
        assert len(g) == 1
        assert [m.person.person_id for m in g.search(x[0], k=5)] == ["new"]
        assert g.last_verify is not None and g.last_verify.other_model_templates == {"old-embedder@1": 1}


def test_auto_index_moves_to_binary_past_exact_max(tmp_path: Path, key_file: Path) -> None:
    cfg = IdentityConfig.model_validate(
        {
            "database": str(tmp_path / "g.db"),
            "template_key": {"file": str(key_file)},
            "index": {"type": "auto", "exact_max": 50, "code_bits": 256, "candidates": 32},
        }
    )
    x = unit_vectors(80, seed=24)
    with Gallery.open(cfg, MODEL) as g:
        for i in range(80):
            g.add(person(f"p{i}"), templates(x[i : i + 1]))
            assert g.index.kind == ("exact" if i < 50 else "binary")
        assert all(g.search(x[i])[0].person.person_id == f"p{i}" for i in range(80))
    with Gallery.open(cfg, MODEL) as g:
        assert g.index.kind == "binary" and len(g) == 80


def test_wrong_or_missing_key_stops_the_gallery(identity_config: IdentityConfig, tmp_path: Path) -> None:
    with Gallery.open(identity_config, MODEL) as g:
        g.add(person("alice"), templates(unit_vectors(1)))
    other = tmp_path / "other.key"
    write_new_key(other)
    wrong = IdentityConfig.model_validate(
        {"database": str(identity_config.database), "template_key": {"file": str(other)}}
    )
    with pytest.raises(TemplateKeyError, match="does not open gallery"):
        Gallery.open(wrong, MODEL)
    with pytest.raises(TemplateKeyError, match="not set"):
        Gallery.open(identity_config.model_copy(update={"template_key": None}), MODEL)


def test_a_tampered_row_stops_the_gallery_at_open(identity_config: IdentityConfig) -> None:
    with Gallery.open(identity_config, MODEL) as g:
        g.add(person("alice"), templates(unit_vectors(1, seed=1)))
        g.add(person("bob"), templates(unit_vectors(1, seed=2)))
    assert identity_config.database is not None
    with sqlite3.connect(identity_config.database) as plain:
        plain.execute("UPDATE templates SET person_id='alice'")  # bob's template re-labelled as alice's
    from edged.identity.crypto import IntegrityError

    with pytest.raises(IntegrityError, match="does not authenticate"):
        Gallery.open(identity_config, MODEL)


def test_concurrent_search_add_and_erase(identity_config: IdentityConfig) -> None:
    x = unit_vectors(200, seed=25)
    errors: list[BaseException] = []
    with Gallery.open(identity_config, MODEL) as g:
        for i in range(100):
            g.add(person(f"base{i}"), templates(x[i : i + 1]))

        def searcher() -> None:
            try:
                for i in range(300):
                    found = g.search(x[i % 100])
                    assert found and found[0].person.person_id == f"base{i % 100}"
            except BaseException as exc:  # noqa: BLE001 - reported to the main thread
                errors.append(exc)

        def writer() -> None:
            try:
                for i in range(100, 200):
                    g.add(person(f"new{i}"), templates(x[i : i + 1]))
                    if i % 2:
                        g.erase(f"new{i}", compact=i % 25 == 1)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=searcher) for _ in range(2)] + [threading.Thread(target=writer)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert len(g) == 150
    with Gallery.open(identity_config, MODEL) as g:
        assert len(g) == 150 and g.last_verify is not None and g.last_verify.ok


def test_invalid_embeddings_are_refused(identity_config: IdentityConfig) -> None:
    with Gallery.open(identity_config, MODEL) as g:
        with pytest.raises(ValueError, match="zero or not finite"):
            g.add(person("zero"), [NewTemplate(np.zeros(512, np.float32))])
        with pytest.raises(ValueError, match="512-dimensional"):
            g.add(person("short"), [NewTemplate(unit_vectors(1, dim=128)[0])])
        assert g.person("zero") is None and g.person("short") is None and len(g) == 0


def test_embedder_tag_follows_the_mirrored_and_grey_crop_options() -> None:
    tags = {
        embedder_tag(VisionConfig(flip_embedding=flip, grey_embedding=grey))
        for flip in (True, False)
        for grey in (True, False)
    }
    assert len(tags) == 4
    assert {t.model_id for t in tags} == {"fr_feature"}


def test_an_sface_gallery_holds_128_d_templates_apart_from_fr_feature_ones(
    identity_config: IdentityConfig,
) -> None:
    """Switching vision.embedder opens the same store under another tag and template length: the other
    model's templates stay in the store, counted, and are never searched."""
    fr_tag, sface_tag = embedder_tag(VisionConfig()), embedder_tag(VisionConfig(embedder="sface"))
    assert (model_dim(fr_tag), model_dim(sface_tag)) == (512, 128)
    with Gallery.open(identity_config, fr_tag) as g:
        g.add(person("enrolled-with-fr-feature"), templates(unit_vectors(1, seed=30)))
    short = unit_vectors(2, dim=128, seed=31)
    with Gallery.open(identity_config, sface_tag) as g:
        assert g.dim == 128
        with pytest.raises(ValueError, match="128-dimensional"):
            g.add(person("wrong-length"), templates(unit_vectors(1, seed=32)))
        g.add(person("enrolled-with-sface"), templates(short[:1]))
        assert [m.person.person_id for m in g.search(short[0], k=5)] == ["enrolled-with-sface"]
        assert g.last_verify is not None
        assert g.last_verify.other_model_templates == {f"{fr_tag.model_id}@{fr_tag.version}": 1}


def test_store_direct_use_matches_gallery(identity_config: IdentityConfig) -> None:
    cipher = Cipher(load_key(identity_config.template_key))
    assert identity_config.database is not None
    store = GalleryStore(identity_config.database, cipher)
    store.add_person(person("alice"), templates(unit_vectors(1, seed=9)), MODEL)
    store.close()
    with Gallery.open(identity_config, MODEL) as g:
        assert g.search(unit_vectors(1, seed=9)[0])[0].person.person_id == "alice"


def test_search_returns_the_runner_up_person_past_a_person_with_many_templates(
    identity_config: IdentityConfig,
) -> None:
    """The margin rule needs the best *other* person: one person's many near templates must not push
    everybody else out of the shortlist (here 60 templates of p0 all beat p1's one)."""
    x = unit_vectors(2, seed=23)
    with Gallery.open(identity_config, MODEL) as g:
        g.add(person("p0"), templates(np.stack([near(x[0], 0.98, seed=s) for s in range(60)])))
        g.add(person("p1"), templates(near(x[0], 0.6, seed=99)[None, :]))
        matches = g.search(x[0], k=2)
        assert [m.person.person_id for m in matches] == ["p0", "p1"]
        assert matches[1].score == pytest.approx(0.6, abs=0.02)


def test_people_is_counted_again_after_enrol_and_erase(identity_config: IdentityConfig) -> None:
    x = unit_vectors(3, seed=24)
    with Gallery.open(identity_config, MODEL) as g:
        assert g.people() == 0
        g.add(person("a"), templates(x[:2]))
        g.add(person("b"), templates(x[2:]))
        assert g.people() == 2
        g.erase("a")
        assert g.people() == 1
