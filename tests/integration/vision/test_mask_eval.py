"""The mask classifier and the masked-probe method on the real data: what CI checks without retraining."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from edged.cli import main
from edged.vision.mask import CARD_PATH, CLASSES, open_classifier
from edged.vision.pipeline import FacePipeline

# Measured here for the one-fold CI configuration (test fold 0, calibration fold 1, training fold 2);
# see docs/masks.md. The full 10-fold figures come from `edged eval lfw --mask-probe`.
# Measured on test fold 0 with the head trained on fold 2 (grey crops, 8 mask variants, 4 epochs): 92.0 %,
# head 91.8 % vs plain 90.8 %. The margin was 3 points while the plain path embedded colour (86.8 % on this
# fold); grey lifted the plain path, and fold 0 is one of the folds where the head gains least in the
# 10-fold run (+3.3 points; the least +3.0, +5.1 on average).
ONE_FOLD_FLOOR = {"accuracy": 0.91, "baseline_margin": 0.005}


@pytest.fixture(scope="module")
def mask_data(shared_data: Path) -> Path:
    return shared_data / "masks" / "face_mask_detection_853"


@pytest.fixture(scope="module")
def held_out(mask_data: Path, models_dir: Path) -> dict:
    from edged.vision.masked.dataset import training_detector
    from edged.vision.masked.mask_eval import evaluate, held_out_crops

    classifier = open_classifier()
    crops, _ = held_out_crops(mask_data, training_detector(models_dir), px=classifier.crop_px)
    return evaluate(classifier, crops)


def _card_figures() -> dict[str, float]:
    text = CARD_PATH.read_text()
    section = text.find("## Results on the held-out test split")
    assert section >= 0, "model card lacks its held-out results section"
    text = text[section:]
    acc = re.search(r"accuracy ([\d.]+) % on (\d+) faces", text)
    assert acc, "model card lacks the held-out accuracy line"
    recall = {c: float(v) / 100 for c, v in re.findall(r"(mask|no_mask|incorrect) ([\d.]+) %", text)[:3]}
    return {"accuracy": float(acc.group(1)) / 100, "n": int(acc.group(2)), **recall}


@pytest.mark.slow
def test_held_out_figures_reproduce_the_model_card(held_out: dict) -> None:
    card = _card_figures()
    assert held_out["n"] == card["n"]
    assert held_out["accuracy"] == pytest.approx(card["accuracy"], abs=5e-5)
    for c in CLASSES:
        assert held_out["recall"][c] == pytest.approx(card[c], abs=5e-5)
    assert sum(map(sum, held_out["confusion"])) == held_out["n"]


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True, reason="the committed classifier is below the issue's floors (see its model card)"
)
def test_held_out_split_meets_the_issue_floors(held_out: dict) -> None:
    assert held_out["accuracy"] >= 0.98
    assert held_out["recall"]["no_mask"] >= 0.97
    assert held_out["recall"]["incorrect"] >= 0.80


def test_eval_masks_command_json(
    mask_data: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["eval", "masks", "--data", str(mask_data), "--split", "val", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(out) >= {"accuracy", "recall", "confusion", "n"}
    assert set(out["recall"]) == set(CLASSES) and len(out["confusion"]) == 3
    assert sum(band["n"] for band in out["accuracy_by_face_px"]) == out["n"]


def test_eval_masks_min_face_px_scores_only_wide_faces(
    mask_data: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = {}
    for px in ("0", "40"):
        assert (
            main(["eval", "masks", "--data", str(mask_data), "--split", "val", "--min-face-px", px, "--json"])
            == 0
        )
        runs[px] = json.loads(capsys.readouterr().out)
    every, wide = runs["0"], runs["40"]
    assert wide["min_face_px"] == 40 and every["min_face_px"] == 0
    assert 0 < wide["n"] < every["n"]
    assert sum(map(sum, wide["confusion"])) == wide["n"]
    bands = {band["min_px"]: band["n"] for band in wide["accuracy_by_face_px"]}
    assert bands[0] == 0 and bands[24] < {b["min_px"]: b["n"] for b in every["accuracy_by_face_px"]}[24]
    assert bands[48] + bands[96] == sum(b["n"] for b in every["accuracy_by_face_px"] if b["min_px"] >= 48), (
        "faces of 48 px and more are all kept"
    )


def test_eval_masks_refuses_a_negative_min_face_px(
    mask_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "masks", "--data", str(mask_data), "--min-face-px", "-5"])
    assert exc.value.code == 2 and "must be 0 or more" in capsys.readouterr().err


def test_eval_masks_bad_folder_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "masks", "--data", str(tmp_path), "--json"])
    err = capsys.readouterr().err
    assert code == 1 and "no VOC annotation" in err and "Traceback" not in err


def test_detect_gives_every_face_a_mask_state(
    mask_data: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["detect", str(mask_data / "images" / "maksssksksss10.jpg"), "--json"])
    faces = json.loads(capsys.readouterr().out)["faces"]
    assert code == 0 and faces
    for f in faces:
        assert f["mask"]["state"] in CLASSES and 0.0 <= f["mask"]["score"] <= 1.0


@pytest.mark.slow
# A hang guard, not a speed limit: with an empty cache the passes over 2,320 images (plain and the probe's
# mask), seven more masks on the training fold's 737 and the head's training take minutes on two cores.
@pytest.mark.timeout(3600)
def test_one_masked_probe_fold_stays_above_its_floor(shared_data: Path, models_dir: Path) -> None:
    from edged.vision.config import OnnxRuntimeEngineConfig
    from edged.vision.lfw_mask_probe import run_mask_probe

    pipeline = FacePipeline(models_dir, OnnxRuntimeEngineConfig(), mask_classifier=open_classifier())
    r = run_mask_probe(pipeline, shared_data / "lfw", folds=1, train_folds=1)
    assert r["pairs"] == 600 and r["folds"] == 1
    assert r["accuracy"] >= ONE_FOLD_FLOOR["accuracy"]
    assert r["head_only"]["accuracy"] > r["baseline_plain"]["accuracy"] + ONE_FOLD_FLOOR["baseline_margin"]
    # the head on its calibration fold (fold 1, threshold chosen there: 94.8 % here), for comparing recipes
    assert len(r["calibration"]["fold_accuracy"]) == 1
    assert r["calibration"]["accuracy"] >= ONE_FOLD_FLOOR["accuracy"]
    # the plain path is the foundation pipeline's, unchanged (99.33 % on fold 0 here), and routing unmasked
    # probes through the mask classifier (the head for the ones it calls masked) must not lower it (99.33 %)
    assert r["unmasked"]["accuracy"] >= 0.98
    assert r["unmasked_routed"]["accuracy"] >= r["unmasked"]["accuracy"]


@pytest.mark.slow
@pytest.mark.timeout(3600)  # a hang guard: with an empty cache the plain and first-mask passes come first
def test_a_soup_member_scores_as_the_single_run_of_its_seed(shared_data: Path, models_dir: Path) -> None:
    """``soup_members`` stands for the runs of ``--head-seed S`` one by one (docs/masks.md quotes them as
    such): the second member of a soup from seed 10 must give what seed 11 alone gives, and the soup must
    differ from both, or nothing was averaged. One epoch of one mask variant keeps this to seconds."""
    from edged.vision.config import OnnxRuntimeEngineConfig
    from edged.vision.lfw_mask_probe import run_mask_probe
    from edged.vision.masked.head import HeadSettings

    pipeline = FacePipeline(models_dir, OnnxRuntimeEngineConfig(), mask_classifier=open_classifier())
    quick = HeadSettings(epochs=1, mask_variants=1)

    def run(seed: int, soup: int) -> dict:
        settings = dataclasses.replace(quick, seed=seed, soup=soup)
        return run_mask_probe(pipeline, shared_data / "lfw", 1, train_folds=1, settings=settings)

    soup, alone = run(10, 2), run(11, 1)
    member = soup["soup_members"][1]
    assert member["seed"] == 11 and soup["head_soup"] == 2 and "soup_members" not in alone
    for key in ("accuracy", "tar_at_far"):
        assert member[key] == alone[key]
    assert member["calibration"]["accuracy"] == alone["calibration"]["accuracy"]
    assert soup["thresholds"] != alone["thresholds"]
