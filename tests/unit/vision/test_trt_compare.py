import numpy as np
import pytest

from edged.vision.engines.trt_compare import (
    INT8_TOLERANCES,
    TOLERANCES,
    Tolerance,
    accuracy_gate,
    compare_model,
    compare_output,
    row_cosines,
)

rng = np.random.default_rng(7)


def test_row_cosines():
    a = rng.normal(size=(4, 512))
    assert np.allclose(row_cosines(a, a), 1.0)
    assert np.allclose(row_cosines(a, -a), -1.0)
    with pytest.raises(ValueError):
        row_cosines(np.zeros((1, 3)), np.ones((1, 3)))


def test_embedding_tolerance_is_cosine():
    ref = rng.normal(size=(8, 512)).astype(np.float32)
    close = ref + rng.normal(scale=0.01, size=ref.shape).astype(np.float32)
    far = ref + rng.normal(scale=0.2, size=ref.shape).astype(np.float32)
    assert compare_model("fr_feature", ["output"], [close], [ref])[0].passed
    (bad,) = compare_model("fr_feature", ["output"], [far], [ref])
    assert not bad.passed
    assert "FAIL" in bad.line()


def test_detector_boxes_are_compared_only_where_a_face_is():
    scores = np.zeros((1, 10, 2), np.float32)
    scores[0, 3, 1] = 0.9
    boxes = rng.random((1, 10, 4)).astype(np.float32)
    moved = boxes.copy()
    moved[0, 5] += 0.5  # background anchor: not compared
    ok = compare_model("fr_detect", ["scores", "boxes"], [scores, moved], [scores, boxes])
    assert all(c.passed for c in ok)
    moved[0, 3] += 0.01  # the face's box moved by 1 % of the frame
    bad = compare_model("fr_detect", ["scores", "boxes"], [scores, moved], [scores, boxes])
    assert [c.passed for c in bad] == [True, False]


def test_non_finite_output_fails():
    ref = np.ones((1, 136), np.float32)
    got = ref.copy()
    got[0, 0] = np.nan
    assert not compare_output("fr_landmark", "output", got, ref, Tolerance(max_abs=1.0)).passed


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        compare_output("m", "o", np.ones((2, 3)), np.ones((3, 3)), Tolerance(max_abs=1))


def test_unknown_model_or_output_is_an_error():
    with pytest.raises(KeyError):
        compare_model("nope", ["output"], [np.ones(1)], [np.ones(1)])
    with pytest.raises(KeyError):
        compare_model("fr_feature", ["logits"], [np.ones((1, 2))], [np.ones((1, 2))])


def test_every_model_has_tolerances_for_both_tables():
    assert (
        set(TOLERANCES)
        == set(INT8_TOLERANCES)
        == {"fr_detect", "fr_landmark", "fr_feature", "fr_liveness", "sface"}
    )
    assert TOLERANCES["fr_feature"]["output"].min_cosine == 0.999


def test_accuracy_gate_runs_both_backends_in_batches():
    weights = rng.normal(size=(12, 512)).astype(np.float32)
    inputs = rng.normal(size=(10, 12)).astype(np.float32)
    calls = []

    def reference(x):
        calls.append(len(x))
        return [x @ weights]

    def quantised(x):
        return [np.round(x @ weights, 1)]

    result = accuracy_gate("fr_feature", ["output"], quantised, reference, inputs, INT8_TOLERANCES, batch=4)
    assert calls == [4, 4, 2]
    assert result[0].passed

    def broken(x):
        return [np.abs(x @ weights)]

    assert not accuracy_gate("fr_feature", ["output"], broken, reference, inputs, INT8_TOLERANCES)[0].passed
