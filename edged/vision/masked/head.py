"""The masked-face head: the embedder's last layers, retrained so that a masked face lands next to the
unmasked embedding of the same person.

MobileFaceNet ends in a 1×1 convolution (128 → 512 channels) with PReLU on the 7×7 feature map, then a
global depthwise 7×7 convolution (a learned weight per channel and position) and a linear 512 → 512 layer.
The head keeps that shape and the embedder's weights as its starting point, and learns new weights from
the feature map of synthetic-masked faces (tensor ``FEATURE`` of ``fr_feature.onnx``). Because only the
weights change, the trained head is written back into a copy of the embedder's ONNX graph
(:func:`masked_embedder_bytes`): masked faces then run through an ordinary engine and their embeddings are
compared with the same (unmasked) templates, against the masked threshold.

Training is a contrastive (InfoNCE) loss: a masked face must be closer to the unmasked embeddings of its
own person than to those of every other person in the training set (masked impostors look alike; this
pushes them apart; the unmasked embeddings are fixed, so all of them serve as negatives at every step, not
only the batch's), plus weight decay towards the embedder's own weights. Plain numpy (forward, backward,
Adam), so the per-fold training runs inside ``edged eval lfw --mask-probe`` with no training framework.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import numpy_helper

from edged.vision.engines.prepare import flush_denormals, prepared_bytes

if TYPE_CHECKING:
    from edged.config.schema import EdgedConfig
    from edged.vision.config import EngineConfig
    from edged.vision.embedder import Embedder

log = logging.getLogger(__name__)
FEATURE = "503"  # input of the last 1×1 expansion: (128, 7, 7) per crop
CHANNELS, POSITIONS, DIM = 128, 49, 512
# head parameter → (initializer of fr_feature.onnx, its shape there)
INITIALIZERS: dict[str, tuple[str, tuple[int, ...]]] = {
    "wc": ("660", (DIM, CHANNELS, 1, 1)),
    "bc": ("661", (DIM,)),
    "slope": ("700", (DIM, 1, 1)),
    "wd": ("663", (DIM, 1, 7, 7)),
    "bd": ("664", (DIM,)),
    "wl": ("666", (DIM, DIM, 1, 1)),
    "bl": ("667", (DIM,)),
}


@dataclass
class Bank:
    """The unmasked embedding of every training image and its person: the negatives of each masked face."""

    targets: np.ndarray  # (M, 512) unit embeddings
    identity: np.ndarray  # (M,)


@dataclass
class HeadSettings:
    epochs: int = 4
    batch: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-3  # towards the embedder's own weights
    temperature: float = 0.05
    seed: int = 7
    # share of the last steps whose weights are averaged into the result (tail averaging: damps the last
    # batches' noise; docs/masks.md says what it gained); 0 keeps the last step's weights
    tail_average: float = 0.5
    # synthetic masks each training image wears (cache variants 0 to mask_variants - 1); 8 masks for 4 epochs
    # took the same steps as 4 for 8 and did better (docs/masks.md)
    mask_variants: int = 8
    # cosine by which a masked face must beat every other person's unmasked embedding in training (an
    # additive margin on the positives' logits, as in CosFace); 0 is the plain contrastive loss
    margin: float = 0.0
    # heads trained with seeds seed .. seed + soup - 1 and averaged weight by weight into one (a model
    # soup: they all start from the embedder's weights, so their mean is a head too, served at one head's
    # cost); 1 trains a single head
    soup: int = 1


def soup_of(heads: list[MaskedHead]) -> MaskedHead:
    """The weight-by-weight mean of ``heads`` (trained from the same start, on crops of the same kind)."""
    if not heads:
        raise ValueError("a soup needs at least one head")
    if len({h.grey for h in heads}) > 1:
        raise ValueError("heads trained on grey and on colour crops cannot be averaged")
    params = {
        k: np.asarray(np.mean([h.params[k] for h in heads], axis=0, dtype=np.float64))
        for k in heads[0].params
    }
    first = heads[0].settings
    return MaskedHead(params, dataclasses.replace(first, soup=len(heads)), grey=heads[0].grey)


def _normalise(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norm = np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    return v / norm, norm


def embedder_params(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """The head's starting weights: the embedder's own (denormals flushed, as every backend loads them)."""
    flush_denormals(model)
    found = {i.name: i for i in model.graph.initializer}
    params = {}
    for key, (name, shape) in INITIALIZERS.items():
        if name not in found:
            raise ValueError(
                f"embedder graph has no initializer {name} ({key}); not the expected MobileFaceNet"
            )
        arr = numpy_helper.to_array(found[name]).astype(np.float32)
        if arr.shape != shape:
            raise ValueError(f"embedder initializer {name} has shape {arr.shape}, expected {shape}")
        params[key] = arr.reshape(_flat_shape(key))
    return params


def _flat_shape(key: str) -> tuple[int, ...]:
    return {"wc": (DIM, CHANNELS), "wd": (DIM, POSITIONS), "wl": (DIM, DIM)}.get(key, (DIM,))


class MaskedHead:
    """``grey``: the crops it was trained on were grey (``Embedder.grey``); it is served the same way."""

    def __init__(
        self, params: dict[str, np.ndarray], settings: HeadSettings | None = None, *, grey: bool = True
    ):
        self.params = {k: np.asarray(v, np.float32).copy() for k, v in params.items()}
        self.settings = settings or HeadSettings()
        self.grey = grey

    # inference -----------------------------------------------------------------------------------------
    def forward(self, features: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """(N, 2, 128, 49) feature maps (crop, mirrored crop) → (N, 2, 512) unnormalised embeddings.

        The 1×1 convolution runs as one matrix product over every (crop, position) row, and PReLU as
        ``pre - (1 - slope) * min(pre, 0)``: no per-element branches (training time is mostly spent here)."""
        p = self.params
        n, crops = features.shape[:2]
        rows = np.ascontiguousarray(features.transpose(0, 1, 3, 2)).reshape(-1, CHANNELS)
        pre = rows @ p["wc"].T
        pre += p["bc"]
        low = np.minimum(pre, 0)
        hidden = pre - low * (1 - p["slope"])
        per_map = hidden.reshape(n * crops, POSITIONS, DIM)
        pooled = np.einsum("rpd,pd->rd", per_map, p["wd"].T).reshape(n, crops, DIM) + p["bd"]
        per_crop = pooled @ p["wl"].T + p["bl"]
        return per_crop, (rows, low, hidden, pooled)

    def embed(self, features: np.ndarray) -> np.ndarray:
        """Unit embeddings as the embedder computes them from a crop and its mirror (``combine``)."""
        from edged.vision.embedder import combine

        per_crop, _ = self.forward(np.asarray(features, np.float32))
        return combine(per_crop.transpose(1, 0, 2).reshape(-1, DIM), len(per_crop), True)

    # storage -------------------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        np.savez(path, grey=np.array(self.grey), **self.params)

    @classmethod
    def load(cls, path: Path) -> MaskedHead:
        with np.load(path, allow_pickle=False) as z:
            missing = set(INITIALIZERS) - set(z.files)
            if missing:
                raise ValueError(f"{path}: not a masked head (missing {sorted(missing)})")
            grey = bool(z["grey"]) if "grey" in z.files else False  # heads before the flag saw colour
            return cls({k: z[k] for k in INITIALIZERS}, grey=grey)

    def apply_to(self, model: onnx.ModelProto) -> onnx.ModelProto:
        """A copy of the embedder graph with this head's weights in place of its last layers."""
        out = onnx.ModelProto()
        out.CopyFrom(model)
        by_name = {i.name: i for i in out.graph.initializer}
        for key, (name, shape) in INITIALIZERS.items():
            by_name[name].CopyFrom(numpy_helper.from_array(self.params[key].reshape(shape), name))
        return out

    # training ------------------------------------------------------------------------------------------
    def fit(self, features: np.ndarray, targets: np.ndarray, identity: np.ndarray) -> list[float]:
        """``features[i]`` (2, 128, 49) of a masked face, ``targets[i]`` the unit embedding of the same image
        unmasked, ``identity[i]`` its person. Returns the mean loss per epoch."""
        s = self.settings
        rng = np.random.default_rng(s.seed)
        _, first_row = np.unique(np.asarray(targets, np.float32), axis=0, return_index=True)
        bank = Bank(np.asarray(targets[first_row], np.float32), np.asarray(identity)[first_row])
        start = {k: v.copy() for k, v in self.params.items()}
        m1 = {k: np.zeros_like(v) for k, v in self.params.items()}
        m2 = {k: np.zeros_like(v) for k, v in self.params.items()}
        n, step, losses = len(features), 0, []
        firsts = range(0, n - s.batch // 4, s.batch)
        averaged_from = s.epochs * len(firsts) * (1 - s.tail_average) if s.tail_average > 0 else None
        average, averaged = {k: np.zeros_like(v) for k, v in self.params.items()}, 0
        for _ in range(s.epochs):
            order = rng.permutation(n)
            total, batches = 0.0, 0
            for first in firsts:
                b = np.sort(order[first : first + s.batch])
                x = np.asarray(features[b], np.float32)
                loss, grads = self._loss_and_grads(x, np.asarray(targets[b], np.float32), identity[b], bank)
                step += 1
                for k, grad in grads.items():
                    grad = grad + s.weight_decay * (self.params[k] - start[k])
                    m1[k] = 0.9 * m1[k] + 0.1 * grad
                    m2[k] = 0.999 * m2[k] + 0.001 * grad * grad
                    update = (m1[k] / (1 - 0.9**step)) / (np.sqrt(m2[k] / (1 - 0.999**step)) + 1e-8)
                    self.params[k] -= (s.lr * update).astype(np.float32)
                if averaged_from is not None and step > averaged_from:
                    averaged += 1
                    for k, v in self.params.items():
                        average[k] += (v - average[k]) / averaged
                total += loss
                batches += 1
            losses.append(total / max(batches, 1))
        if averaged:
            self.params = {k: v.astype(self.params[k].dtype) for k, v in average.items()}
        return losses

    def _loss_and_grads(
        self, x: np.ndarray, u: np.ndarray, ids: np.ndarray, bank: Bank
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Two softmax sides: each masked face against every target in ``bank`` (fixed unmasked embeddings
        of all training images: every other person is a negative, not only the batch's), and each target in
        the batch against the batch's masked faces."""
        p = self.params
        tau = self.settings.temperature
        per_crop, (rows, low, hidden, pooled) = self.forward(x)
        z = per_crop.sum(axis=1)  # training uses the plain sum; the normalised sum differs negligibly
        zn, z_norm = _normalise(z)
        n = len(x)

        def side(lg: np.ndarray, positive: np.ndarray) -> tuple[float, np.ndarray]:
            """-log(share of the positives in the softmax), in log space so nothing underflows. The margin
            is a constant on the positives' logits, so the gradient keeps its form."""
            if self.settings.margin:
                lg = lg - positive * (self.settings.margin / tau)
            lg = lg - lg.max(axis=1, keepdims=True)
            log_all = np.log(np.exp(lg).sum(axis=1, keepdims=True))
            pos_lg = np.where(positive, lg, -np.inf)  # every row has a positive: itself
            top = pos_lg.max(axis=1, keepdims=True)
            log_pos = top + np.log(np.exp(pos_lg - top).sum(axis=1, keepdims=True))
            loss = float((log_all - log_pos).mean())
            return loss, (np.exp(lg - log_all) - np.exp(pos_lg - log_pos)) / n

        loss_r, d_rows = side(zn @ bank.targets.T / tau, ids[:, None] == bank.identity[None, :])
        loss_c, d_cols = side(u @ zn.T / tau, ids[:, None] == ids[None, :])
        d_zn = (d_rows @ bank.targets + d_cols.T @ u) / (2 * tau)
        d_z = (d_zn - zn * (d_zn * zn).sum(axis=1, keepdims=True)) / z_norm
        crops = x.shape[1]
        d_crop = np.repeat(d_z[:, None], crops, axis=1)
        d_pooled = (d_crop @ p["wl"]).reshape(n * crops, DIM)
        d_hidden = (d_pooled[:, None, :] * p["wd"].T).reshape(-1, DIM)
        negative = (low < 0).astype(low.dtype)
        d_pre = d_hidden - d_hidden * negative * (1 - p["slope"])
        grads = {
            "wl": np.tensordot(d_crop, pooled, axes=([0, 1], [0, 1])),
            "bl": d_crop.sum(axis=(0, 1)),
            "wd": np.einsum("rd,rpd->dp", d_pooled, hidden.reshape(n * crops, POSITIONS, DIM)),
            "bd": d_pooled.sum(axis=0),
            "slope": np.einsum("rd,rd->d", d_hidden, low),
            "wc": d_pre.T @ rows,
            "bc": d_pre.sum(axis=0),
        }
        return (loss_r + loss_c) / 2, grads


class FeatureEmbedder:
    """The verified embedder under ONNX Runtime with ``FEATURE`` as a second output: what the masked-probe
    benchmark and the head's training read. Not used at the gate (there the head runs inside the graph)."""

    def __init__(self, models_dir: Path, *, flip: bool = True, grey: bool = True, threads: int = 2):
        import onnxruntime as ort

        from edged.models import verified_path
        from edged.vision.engines.onnxruntime_engine import session_options

        model = onnx.load(str(verified_path(models_dir, "fr_feature.onnx")))
        model = onnx.load_from_string(prepared_bytes(model, for_onnxruntime=True))
        model.graph.output.append(onnx.helper.make_tensor_value_info(FEATURE, onnx.TensorProto.FLOAT, None))
        self._session = ort.InferenceSession(
            model.SerializeToString(), session_options(threads), providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self.flip = flip
        self.grey = grey

    def embed_with_features(self, aligned_bgr: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(N, 512) unit embeddings exactly as ``Embedder.embed``, and (N, 2, 128, 49) feature maps."""
        from edged.vision.embedder import combine, preprocess

        n = len(aligned_bgr)
        out, fmap = self._session.run(None, {self._input: preprocess(aligned_bgr, True, self.grey)})
        fmap = fmap.reshape(2 * n, CHANNELS, POSITIONS)
        return combine(out if self.flip else out[:n], n, self.flip), np.stack([fmap[:n], fmap[n:]], axis=1)


DATA_DIR = Path(__file__).resolve().parent.parent / "data"
HEAD_PATH = DATA_DIR / "masked_head.npz"
HEAD_CARD_PATH = DATA_DIR / "MASKED_HEAD_CARD.md"
MASKED_EMBEDDER = "fr_feature_masked_head"  # the engine's model name (and TensorRT cache key's)


def verified_head(head_path: Path = HEAD_PATH) -> MaskedHead:
    """The head in ``head_path`` after checking it against the sha256 in the card beside it."""
    from edged.vision.mask import verify

    verify(head_path, head_path.with_name(HEAD_CARD_PATH.name))
    return MaskedHead.load(head_path)


def masked_embedder_bytes(models_dir: Path, head: MaskedHead) -> bytes:
    """The verified embedder graph with ``head``'s weights in its last layers. Not prepared: every engine
    prepares the file it builds from (``edged.vision.engines.prepare``)."""
    from edged.models import verified_path

    graph = head.apply_to(onnx.load(str(verified_path(models_dir, "fr_feature.onnx"))))
    return bytes(graph.SerializeToString())


def open_masked_embedder(
    models_dir: Path, engine_cfg: EngineConfig, *, flip: bool = True, head_path: Path = HEAD_PATH
) -> Embedder:
    """The embedder for masked faces on the configured engine, fed crops in the colour mode the head was
    trained on. The head is checked against the sha256 in its card; the graph is written to a private
    temporary file only while the engine loads it (engines build from files), named after the embedder so
    the engine reports it as such."""
    import tempfile

    from edged.vision.embedder import Embedder
    from edged.vision.engines import create_engine

    head = verified_head(head_path)
    data = masked_embedder_bytes(models_dir, head)
    with tempfile.TemporaryDirectory(prefix="edged-masked-") as tmp:
        path = Path(tmp) / f"{MASKED_EMBEDDER}.onnx"
        path.write_bytes(data)
        return Embedder(create_engine(path, engine_cfg), flip=flip, grey=head.grey)


def load_masked_embedder(cfg: EdgedConfig) -> Embedder | None:
    """The shipped head on the configured engine; ``None`` when it or the mask classifier is not installed
    (without a classifier no face is ever called masked)."""
    from edged.models import resolve_models_dir
    from edged.vision.mask import MODEL_PATH

    if not MODEL_PATH.exists():
        return None
    if cfg.vision.embedder != "fr_feature":
        log.warning(
            "the masked-face head was trained on fr_feature's features, not %s's: faces the mask classifier "
            "calls masked are embedded by %s and judged by vision.match_threshold",
            cfg.vision.embedder,
            cfg.vision.embedder,
        )
        return None
    if not HEAD_PATH.exists():
        log.warning(
            "%s missing: faces the mask classifier calls masked are embedded by the plain embedder and "
            "judged by vision.match_threshold",
            HEAD_PATH,
        )
        return None
    models_dir = resolve_models_dir(cfg.models.dir)
    embedder = open_masked_embedder(models_dir, cfg.engine, flip=cfg.vision.flip_embedding)
    if embedder.grey != cfg.vision.grey_embedding:
        log.warning(
            "the masked-face head was trained on %s crops but vision.grey_embedding is %s: masked faces "
            "are compared with templates of another kind; retrain it (scripts/train-masked-head)",
            "grey" if embedder.grey else "colour",
            str(cfg.vision.grey_embedding).lower(),
        )
    return embedder
