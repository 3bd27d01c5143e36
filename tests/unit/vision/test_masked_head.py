"""The masked-face head: exact gradients, learning on a synthetic task, save and load, written back into an
ONNX graph that computes the same embedding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edged.vision.masked.head import (
    CHANNELS,
    DIM,
    INITIALIZERS,
    POSITIONS,
    Bank,
    HeadSettings,
    MaskedHead,
    soup_of,
)


def _random_params(rng: np.random.Generator, dtype: type = np.float32) -> dict[str, np.ndarray]:
    return {
        "wc": rng.standard_normal((DIM, CHANNELS)) / np.sqrt(CHANNELS),
        "bc": rng.standard_normal(DIM) * 0.1,
        "slope": rng.uniform(0.05, 0.3, DIM),
        "wd": rng.standard_normal((DIM, POSITIONS)) / 7,
        "bd": rng.standard_normal(DIM) * 0.1,
        "wl": rng.standard_normal((DIM, DIM)) / np.sqrt(DIM),
        "bl": rng.standard_normal(DIM) * 0.1,
    } | {}


@pytest.mark.parametrize("margin", [0.0, 0.2])
def test_gradients_match_finite_differences(margin: float) -> None:
    rng = np.random.default_rng(1)
    head = MaskedHead(_random_params(rng), HeadSettings(margin=margin))
    head.params = {k: v.astype(np.float64) for k, v in head.params.items()}
    x = rng.standard_normal((6, 2, CHANNELS, POSITIONS))
    u = rng.standard_normal((6, DIM))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    ids = np.array([0, 0, 1, 2, 3, 3])
    others = rng.standard_normal((4, DIM))  # bank targets of images outside the batch
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    bank = Bank(np.vstack([u, others]), np.concatenate([ids, [3, 4, 5, 5]]))
    _, grads = head._loss_and_grads(x, u, ids, bank)
    eps = 1e-6
    for name, index in (
        ("wc", (3, 5)),
        ("wc", (400, 100)),
        ("bc", (7,)),
        ("slope", (11,)),
        ("wd", (2, 30)),
        ("bd", (5,)),
        ("wl", (1, 7)),
        ("bl", (9,)),
    ):
        p = head.params[name]
        old = p[index]
        p[index] = old + eps
        up, _ = head._loss_and_grads(x, u, ids, bank)
        p[index] = old - eps
        down, _ = head._loss_and_grads(x, u, ids, bank)
        p[index] = old
        assert np.isclose(grads[name][index], (up - down) / (2 * eps), rtol=1e-3, atol=1e-8), name


def test_a_margin_makes_the_own_person_win_by_more() -> None:
    """With a margin the same weights and faces cost more: the positives' logits are lowered."""
    rng = np.random.default_rng(5)
    params = _random_params(rng)
    x = rng.standard_normal((4, 2, CHANNELS, POSITIONS)).astype(np.float32)
    u = rng.standard_normal((4, DIM)).astype(np.float32)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    ids = np.array([0, 1, 2, 3])
    plain, _ = MaskedHead(params)._loss_and_grads(x, u, ids, Bank(u, ids))
    strict, _ = MaskedHead(params, HeadSettings(margin=0.2))._loss_and_grads(x, u, ids, Bank(u, ids))
    assert strict > plain + 0.5


def test_a_soup_is_the_weight_by_weight_mean_of_its_heads() -> None:
    rng = np.random.default_rng(6)
    a, b, c = (MaskedHead(_random_params(rng), HeadSettings(seed=s)) for s in (10, 11, 12))
    soup = soup_of([a, b, c])
    for k in INITIALIZERS:
        assert np.allclose(soup.params[k], (a.params[k] + b.params[k] + c.params[k]) / 3, atol=1e-6)
        assert soup.params[k].dtype == np.float32
    assert (soup.settings.seed, soup.settings.soup, soup.grey) == (10, 3, True)
    alone = soup_of([a])
    assert all(np.array_equal(alone.params[k], a.params[k]) for k in INITIALIZERS)
    assert alone.settings.soup == 1


def test_heads_of_other_crop_kinds_or_none_make_no_soup() -> None:
    rng = np.random.default_rng(7)
    grey, colour = MaskedHead(_random_params(rng)), MaskedHead(_random_params(rng), grey=False)
    with pytest.raises(ValueError, match="grey and on colour"):
        soup_of([grey, colour])
    with pytest.raises(ValueError, match="at least one head"):
        soup_of([])


def test_every_image_in_the_bank_is_a_negative_not_only_the_batch() -> None:
    """A stranger whose unmasked embedding sits exactly where a masked face lands raises the loss, though the
    stranger is not in the batch."""
    rng = np.random.default_rng(4)
    head = MaskedHead(_random_params(rng))
    x = rng.standard_normal((4, 2, CHANNELS, POSITIONS)).astype(np.float32)
    u = rng.standard_normal((4, DIM)).astype(np.float32)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    ids = np.array([0, 1, 2, 3])
    lands = head.forward(x)[0].sum(axis=1)
    lands /= np.linalg.norm(lands, axis=1, keepdims=True)
    alone, _ = head._loss_and_grads(x, u, ids, Bank(u, ids))
    crowded, _ = head._loss_and_grads(x, u, ids, Bank(np.vstack([u, lands[:1]]), np.append(ids, 9)))
    assert crowded > alone + 0.1


def _tail_graph(params: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The embedder's last layers as a small ONNX graph with the embedder's initializer names."""
    inits = [
        numpy_helper.from_array(params[k].reshape(shape).astype(np.float32), name)
        for k, (name, shape) in INITIALIZERS.items()
    ]
    names = {k: name for k, (name, _) in INITIALIZERS.items()}
    nodes = [
        helper.make_node("Conv", ["x", names["wc"], names["bc"]], ["e"], kernel_shape=[1, 1]),
        helper.make_node("PRelu", ["e", names["slope"]], ["h"]),
        helper.make_node("Conv", ["h", names["wd"], names["bd"]], ["d"], kernel_shape=[7, 7], group=DIM),
        helper.make_node("Conv", ["d", names["wl"], names["bl"]], ["l"], kernel_shape=[1, 1]),
        helper.make_node("Flatten", ["l"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tail",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, CHANNELS, 7, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, DIM])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_weights_written_into_the_graph_compute_the_same_embedding() -> None:
    rng = np.random.default_rng(2)
    start = _random_params(rng)
    graph = _tail_graph(start)
    trained = MaskedHead({k: v + rng.standard_normal(v.shape) * 0.05 for k, v in start.items()})
    patched = trained.apply_to(graph)
    x = rng.standard_normal((3, 2, CHANNELS, POSITIONS)).astype(np.float32)
    sess = ort.InferenceSession(patched.SerializeToString(), providers=["CPUExecutionProvider"])
    per_crop = sess.run(None, {"x": x.reshape(6, CHANNELS, 7, 7)})[0].reshape(3, 2, DIM)
    ours, _ = trained.forward(x)
    assert np.allclose(per_crop, ours, atol=1e-4)
    unpatched = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    assert not np.allclose(
        unpatched.run(None, {"x": x.reshape(6, CHANNELS, 7, 7)})[0].reshape(3, 2, DIM), ours
    )


@pytest.mark.slow
def test_training_finds_the_identity_under_the_mask() -> None:
    """The real situation in miniature: unmasked embeddings come from the starting weights on feature maps
    whose upper rows carry the person; a mask replaces the lower rows with one strong pattern shared by
    everybody, so before training masked faces are matched on the mask. After training on other people the
    head must find their identity again."""
    rng = np.random.default_rng(3)
    start = _random_params(rng)
    upper = 21  # the first three rows of the 7×7 map

    def faces(people: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        r = np.random.default_rng(seed)
        ident = np.stack([np.random.default_rng(1000 + p).standard_normal((CHANNELS, upper)) for p in people])
        clean = np.zeros((len(people), 2, CHANNELS, POSITIONS), np.float32)
        clean[:, :, :, :upper] = (ident + 0.5 * r.standard_normal(ident.shape))[:, None]
        masked = clean.copy()
        masked[:, :, :, upper:] = 1.0 + 3.0 * r.standard_normal((len(people), 1, CHANNELS, POSITIONS - upper))
        return masked, MaskedHead(start).embed(clean)

    ids = np.repeat(np.arange(150), 4)
    x, plain = faces(ids, 4)
    test_ids = np.repeat(np.arange(150, 350), 2)  # never seen in training
    xt, pt = faces(test_ids, 6)

    def rank1(head: MaskedHead) -> float:
        s = head.embed(xt) @ pt.T
        np.fill_diagonal(s, -np.inf)
        return float((test_ids[np.argmax(s, axis=1)] == test_ids).mean())

    head = MaskedHead(start, HeadSettings(epochs=20, batch=100, lr=2e-3, weight_decay=0.0))
    before = rank1(head)
    losses = head.fit(x, plain, ids)
    assert losses[-1] < 0.8 * losses[0]
    after = rank1(head)
    assert after > before + 0.25 and after > 0.9  # measured: 0.64 before, 0.97 after


def test_tail_average_returns_the_mean_of_the_last_steps_weights() -> None:
    """One batch holds every sample, so each epoch is one step and a run of k epochs stops at step k: the
    head trained 4 epochs with the last half averaged must be the mean of the 3- and 4-step heads."""
    rng = np.random.default_rng(8)
    start = _random_params(rng, np.float32)
    x = rng.standard_normal((40, 2, CHANNELS, POSITIONS)).astype(np.float32)
    plain = MaskedHead(start).embed(rng.standard_normal((40, 2, CHANNELS, POSITIONS)).astype(np.float32))
    ids = np.repeat(np.arange(20), 2)

    def trained(epochs: int, tail: float) -> dict[str, np.ndarray]:
        head = MaskedHead(start, HeadSettings(epochs=epochs, batch=40, tail_average=tail))
        head.fit(x, plain, ids)
        return head.params

    three, four, averaged = trained(3, 0.0), trained(4, 0.0), trained(4, 0.5)
    for k in INITIALIZERS:
        assert not np.allclose(three[k], four[k]), k  # the steps move every weight
        assert np.allclose(averaged[k], (three[k] + four[k]) / 2, rtol=1e-5, atol=1e-7), k
        assert averaged[k].dtype == np.float32


def test_save_and_load_give_the_same_outputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, CHANNELS, POSITIONS)).astype(np.float32)
    for grey in (True, False):
        head = MaskedHead(_random_params(rng), grey=grey)
        head.save(tmp_path / "h.npz")
        other = MaskedHead.load(tmp_path / "h.npz")
        assert np.allclose(head.embed(x), other.embed(x))
        assert other.grey is grey


def test_a_head_saved_before_the_grey_flag_loads_as_a_colour_head(tmp_path: Path) -> None:
    np.savez(tmp_path / "old.npz", **_random_params(np.random.default_rng(6)))
    assert MaskedHead.load(tmp_path / "old.npz").grey is False


def test_a_file_that_is_not_a_head_is_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "other.npz", w0=np.zeros(3))
    with pytest.raises(ValueError, match="not a masked head"):
        MaskedHead.load(tmp_path / "other.npz")


def test_a_missing_head_with_a_classifier_installed_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from edged.config.schema import EdgedConfig
    from edged.vision.mask import MODEL_PATH
    from edged.vision.masked import head

    assert MODEL_PATH.exists()  # the committed classifier
    monkeypatch.setattr(head, "HEAD_PATH", tmp_path / "masked_head.npz")
    with caplog.at_level("WARNING", logger=head.__name__):
        assert head.load_masked_embedder(EdgedConfig.model_validate({})) is None
    assert "masked_head.npz missing" in caplog.text and "vision.match_threshold" in caplog.text
