"""One prepared GPU check for a machine with an NVIDIA GPU but no TensorRT (the workplace's H100/H200).

TensorRT does not fit the 64 MiB that can be carried there, so the GPU path checked is the same
prepared ONNX graph converted to PyTorch (onnx2torch) and run with CUDA in fp32 (TF32 convolutions)
and fp16 (autocast): per-model latency, the conformance comparison against the ONNX Runtime CPU
outputs recorded by ``device_inputs.py`` (same tolerances as the TensorRT gate, ``trt_compare``), and
LFW fold 1 through the whole pipeline per backend. Usage (on that machine)::

    python3 -m tests.gpu.device_check --data .device --out "$OUT"
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from edged.vision.config import OnnxRuntimeEngineConfig
from edged.vision.engines.base import Engine, TensorSpec, register_engine
from edged.vision.engines.onnxruntime_engine import OnnxRuntimeEngine
from edged.vision.engines.prepare import prepared_model_bytes
from edged.vision.engines.trt_compare import compare_model, row_cosines
from edged.vision.lfw import evaluate, read_pairs
from edged.vision.lfw_run import embed_paths, pair_scores
from edged.vision.pipeline import FacePipeline

MODELS = ("fr_detect", "fr_landmark", "fr_feature", "fr_liveness")
OUTPUT_NAMES = {"fr_detect": ["scores", "boxes"]}


class TorchCudaEngine(Engine):
    def __init__(self, model_path: Path, precision: str):
        import onnx
        import onnx.shape_inference
        import onnx.version_converter
        import onnx2torch
        import torch

        self._torch = torch
        # onnx2torch lacks some opset-9 converters (Slice-1); the opset-13 form is the same graph
        proto = onnx.version_converter.convert_version(
            onnx.load_from_string(prepared_model_bytes(model_path)), 13
        )
        freeze_reshape_shapes(proto)
        inits = {i.name for i in proto.graph.initializer}
        # onnx2torch picks BatchNorm's rank from inferred shapes; infer them at batch 1 (the converted
        # module stays batch-agnostic: the prepared Reshapes copy the batch dimension)
        shaped = onnx.ModelProto()
        shaped.CopyFrom(proto)
        shaped.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
        proto.graph.value_info.extend(onnx.shape_inference.infer_shapes(shaped).graph.value_info)

        def spec(v: Any) -> TensorSpec:
            dims = tuple(
                d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim
            )
            return TensorSpec(v.name, dims, "float32")

        self.name = model_path.stem
        self.inputs = [spec(v) for v in proto.graph.input if v.name not in inits]
        self.outputs = [spec(v) for v in proto.graph.output]
        self.module = onnx2torch.convert(proto).eval().cuda()
        self.fp16 = precision == "fp16"

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        torch = self._torch
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=self.fp16):
            x = torch.from_numpy(np.ascontiguousarray(batch, np.float32)).cuda()
            y = self.module(x)
            ys = list(y) if isinstance(y, (tuple, list)) else [y]
            return [t.float().cpu().numpy() for t in ys]


def freeze_reshape_shapes(proto: Any) -> None:
    """Replace Reshape targets computed at run time (Shape→Gather→Concat) by constants with 0 = copy the
    batch, so that shape inference (and onnx2torch) sees ranks. The constants are read from ONNX Runtime
    at batch 1 and 2 and used only where they differ exactly in the batch entry."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    inits = {i.name for i in proto.graph.initializer}
    dynamic = [n for n in proto.graph.node if n.op_type == "Reshape" and n.input[1] not in inits]
    if not dynamic:
        return
    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    for n in dynamic:
        probe.graph.output.append(
            onnx.helper.make_tensor_value_info(n.input[0], onnx.TensorProto.FLOAT, None)
        )
        probe.graph.output.append(
            onnx.helper.make_tensor_value_info(n.input[1], onnx.TensorProto.INT64, None)
        )
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    names = [t for n in dynamic for t in (n.input[0], n.input[1])]
    seen = []
    for b in (1, 2):
        x = np.zeros((b, *inp.shape[1:]), np.float32)
        seen.append(dict(zip(names, sess.run(names, {inp.name: x}), strict=True)))
    for n in dynamic:
        one, two = seen[0][n.input[1]], seen[1][n.input[1]]
        data_batches = (seen[0][n.input[0]].shape[0], seen[1][n.input[0]].shape[0])
        if data_batches == (1, 2) and one[0] == 1 and two[0] == 2 and np.array_equal(one[1:], two[1:]):
            fixed = one.copy()
            fixed[0] = 0
            name = n.input[1] + "_frozen"
            proto.graph.initializer.append(numpy_helper.from_array(fixed.astype(np.int64), name))
            n.input[1] = name


class _Cfg:
    def __init__(self, type_: str):
        self.type = type_
        self.warmup_runs = 3


for _p in ("fp32", "fp16"):
    register_engine(f"torch-cuda-{_p}")(lambda path, cfg, p=_p: TorchCudaEngine(path, p))


def _backends(models: Path) -> dict[str, Any]:
    return {
        "onnxruntime-cpu": lambda m: OnnxRuntimeEngine(models / f"{m}.onnx", OnnxRuntimeEngineConfig()),
        "torch-cuda-fp32": lambda m: TorchCudaEngine(models / f"{m}.onnx", "fp32"),
        "torch-cuda-fp16": lambda m: TorchCudaEngine(models / f"{m}.onnx", "fp16"),
    }


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {}
    try:
        env["gpu"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError as exc:
        env["gpu"] = f"none ({exc})"
    for mod in ("torch", "onnxruntime", "onnx", "onnx2torch", "tensorrt", "pycuda", "cv2"):
        try:
            env[mod] = getattr(importlib.import_module(mod), "__version__", "present")
        except Exception as exc:  # report, do not fail: absence is a finding
            env[mod] = f"absent ({type(exc).__name__}: {exc})"
    import onnxruntime as ort

    env["ort_providers"] = ort.get_available_providers()
    try:
        import torch

        env["torch_cuda"] = torch.version.cuda
        env["tf32_conv"] = torch.backends.cudnn.allow_tf32
    except ImportError:
        pass
    return env


def load_reference(path: Path) -> list[tuple[str, np.ndarray, list[np.ndarray]]]:
    z = np.load(path)
    calls: dict[str, tuple[str, np.ndarray, list[np.ndarray]]] = {}
    for k in sorted(z.files):
        idx, model, what = k.split("/")
        if what == "input":
            calls[idx] = (model, z[k].astype(np.float32), [])
    for k in sorted(z.files):
        idx, model, what = k.split("/")
        if what.startswith("out"):
            calls[idx][2].append(z[k])
    return [calls[i] for i in sorted(calls)]


def conformance(
    engines: dict[str, Engine], calls: list[tuple[str, np.ndarray, list[np.ndarray]]]
) -> list[dict]:
    rows = []
    for model in MODELS:
        mine = [c for c in calls if c[0] == model]
        names = OUTPUT_NAMES.get(model, ["output"])
        x = np.concatenate([c[1] for c in mine])
        refs = [np.concatenate([c[2][j] for c in mine]) for j in range(len(names))]
        got_single: list[list[np.ndarray]] = [[] for _ in names]
        for c in mine:
            for j, o in enumerate(engines[model].infer(c[1])):
                got_single[j].append(o)
        single = [np.concatenate(g) for g in got_single]
        for comp in compare_model(model, names, single, refs):
            rows.append({"mode": "as recorded", "calls": len(mine), **comp.__dict__})
        if model != "fr_detect":  # per-face models: one batch of up to 8 rows
            n = min(8, len(x))
            for comp in compare_model(model, names, engines[model].infer(x[:n]), [r[:n] for r in refs]):
                rows.append({"mode": f"batch {n}", "calls": 1, **comp.__dict__})
    return rows


def latency(engine: Engine, x: np.ndarray, runs: int) -> float:
    for _ in range(10):
        engine.infer(x)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        engine.infer(x)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


def lfw_fold1(models: Path, lfw: Path, names: list[str]) -> dict[str, Any]:
    pairs = [p for p in read_pairs(lfw) if p.fold == 0]
    paths = sorted({p.a for p in pairs} | {p.b for p in pairs})
    same = np.array([p.same for p in pairs])
    folds = np.zeros(len(pairs), int)
    results: dict[str, Any] = {}
    reference: dict[Path, np.ndarray | None] = {}
    for name in names:
        cfg = OnnxRuntimeEngineConfig() if name == "onnxruntime-cpu" else _Cfg(name)
        try:
            pipe = FacePipeline(models, cfg)  # type: ignore[arg-type]
            t = time.perf_counter()
            emb = embed_paths(pipe, paths)
        except Exception as exc:
            results[name] = f"failed: {type(exc).__name__}: {exc}"
            continue
        elapsed = time.perf_counter() - t
        res = evaluate(pair_scores(pairs, emb), same, folds, fixed_threshold=pipe.config.match_threshold)
        row = {
            "accuracy": res["accuracy"],
            "threshold": res["thresholds"][0],
            "missed": sum(v is None for v in emb.values()),
            "images": len(paths),
            "images_per_second": len(paths) / elapsed,
        }
        if name == "onnxruntime-cpu":
            reference = emb
        else:
            both = [p for p in paths if emb.get(p) is not None and reference.get(p) is not None]
            a = np.stack([emb[p] for p in both])  # type: ignore[misc]
            b = np.stack([reference[p] for p in both])  # type: ignore[misc]
            cos = row_cosines(a, b)
            row["embedding_cosine_vs_cpu"] = {"min": float(cos.min()), "median": float(np.median(cos))}
            row["faces_compared"] = len(both)
        results[name] = row
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--backends", default="onnxruntime-cpu,torch-cuda-fp32,torch-cuda-fp16")
    args = ap.parse_args()
    models = args.data / "models"
    report: dict[str, Any] = {"environment": environment(), "card": "see environment.gpu"}
    print(json.dumps(report["environment"], indent=1), flush=True)
    calls = load_reference(args.data / "reference.npz")
    wanted = args.backends.split(",")
    backends = {k: v for k, v in _backends(models).items() if k in wanted}
    report["conformance"] = {}
    report["latency_ms"] = {}
    for name, make in backends.items():
        try:
            engines = {m: make(m) for m in MODELS}
        except Exception as exc:  # a converter gap is a finding to report, not a reason to stop
            report["conformance"][name] = f"could not load: {type(exc).__name__}: {exc}"
            print(name, report["conformance"][name], flush=True)
            wanted.remove(name)
            continue
        rows = conformance(engines, calls)
        report["conformance"][name] = rows
        for r in rows:
            verdict = "ok" if r["passed"] else "FAIL"
            print(
                f"{name:16s} {r['model']}/{r['output']} [{r['mode']}] {r['metric']}={r['value']:.3g} "
                f"limit {r['limit']} {verdict}",
                flush=True,
            )
        lat: dict[str, float] = {}
        for m in MODELS:
            x = next(c[1] for c in calls if c[0] == m)[:1]
            lat[f"{m} b1"] = latency(engines[m], x, args.runs)
            if m != "fr_detect":
                lat[f"{m} b8"] = latency(engines[m], np.repeat(x, 8, axis=0), args.runs)
        report["latency_ms"][name] = lat
        print(name, "median ms per call:", json.dumps({k: round(v, 3) for k, v in lat.items()}), flush=True)
    report["lfw_fold1"] = lfw_fold1(models, args.data / "lfw", wanted)
    print(json.dumps(report["lfw_fold1"], indent=1), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "device_check.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
