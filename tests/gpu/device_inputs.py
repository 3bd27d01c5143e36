"""Prepare the inputs of ``device_check.py``: run the ONNX Runtime CPU pipeline over a few LFW images
and record every model call (input tensor and outputs) as the reference; copy LFW fold 1 beside it.

Run here, before a GPU call; the output folder must be git-ignored (``.device/``) and is deleted after::

    .venv/bin/python -m tests.gpu.device_inputs --out .device
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edged.models import PINNED, default_models_dir
from edged.vision.config import OnnxRuntimeEngineConfig
from edged.vision.engines.base import Engine, register_engine
from edged.vision.engines.onnxruntime_engine import OnnxRuntimeEngine
from edged.vision.image_io import load_image
from edged.vision.lfw import read_pairs
from edged.vision.pipeline import FacePipeline

RECORDED: list[tuple[str, np.ndarray, list[np.ndarray]]] = []


class _Recording(Engine):
    def __init__(self, inner: Engine):
        self.inner, self.name = inner, inner.name
        self.inputs, self.outputs = inner.inputs, inner.outputs

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        out = self.inner.infer(batch)
        RECORDED.append((self.name, np.array(batch, np.float32), [np.array(o) for o in out]))
        return out


class _RecordingConfig:
    type = "recording"
    warmup_runs = 0


@register_engine("recording")
def _make(model_path: Path, _config: Any) -> Engine:
    return _Recording(OnnxRuntimeEngine(model_path, OnnxRuntimeEngineConfig()))


def _exact_f16(x: np.ndarray) -> np.ndarray:
    half = x.astype(np.float16)
    return half if np.array_equal(half.astype(np.float32), x) else x


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--lfw", type=Path, default=Path(__file__).resolve().parents[3] / "shared/data/lfw")
    ap.add_argument("--frames", type=int, default=24)
    args = ap.parse_args()
    models = default_models_dir()
    (args.out / "models").mkdir(parents=True, exist_ok=True)
    for name in PINNED:
        shutil.copyfile(models / name, args.out / "models" / name)
    pairs = [p for p in read_pairs(args.lfw) if p.fold == 0]
    paths = sorted({p.a for p in pairs} | {p.b for p in pairs})
    pipe = FacePipeline(models, _RecordingConfig())  # type: ignore[arg-type]
    RECORDED.clear()
    for path in paths[: args.frames]:
        pipe.analyse(load_image(path), mask=False)
    arrays: dict[str, np.ndarray] = {}
    for i, (model, x, outs) in enumerate(RECORDED):
        arrays[f"{i:04d}/{model}/input"] = _exact_f16(x)
        for j, o in enumerate(outs):
            arrays[f"{i:04d}/{model}/out{j}"] = o
    np.savez_compressed(args.out / "reference.npz", **arrays)
    lfw_out = args.out / "lfw"
    for path in paths:
        dest = lfw_out / path.relative_to(args.lfw)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    shutil.copyfile(args.lfw / "pairs.txt", lfw_out / "pairs.txt")
    print(
        f"{len(RECORDED)} model calls recorded from {args.frames} images; {len(paths)} fold-1 images copied"
    )


if __name__ == "__main__":
    main()
