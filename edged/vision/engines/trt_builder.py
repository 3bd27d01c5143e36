"""Builds TensorRT engines from the prepared ONNX graph (the same bytes ONNX Runtime loads).

The ``trtexec`` equivalent of a per-face FP16 build is in docs/jetson.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorrt as trt

from edged.models import model_file
from edged.vision.engines.prepare import prepared_model_bytes
from edged.vision.engines.trt_cache import EngineCache, EngineKey, Platform, engine_key
from edged.vision.engines.trt_calibration import make_calibrator
from edged.vision.engines.trt_platform import PrimaryContext, current_platform, trt_logger
from edged.vision.engines.trt_profiles import BatchProfile, batch_profiles, input_shapes


class BuildError(Exception):
    pass


@dataclass(frozen=True)
class BuildPlan:
    """Everything a build needs, and the key its engine is cached under."""

    model: str
    prepared_onnx: bytes
    profiles: tuple[BatchProfile, ...]
    precision: str
    workspace_mb: int
    calibration: np.ndarray | None
    key: EngineKey


def plan_build(
    models_dir: Path,
    model: str,
    *,
    platform: Platform,
    precision: str,
    max_batch: int,
    opt_batch: int,
    workspace_mb: int,
    calibration_dir: Path | None = None,
) -> BuildPlan:
    onnx_bytes = prepared_model_bytes(model_file(models_dir, f"{model}.onnx"))
    profiles = batch_profiles(model, max_batch, opt_batch)
    calibration = None
    calibration_bytes = None
    if precision == "int8":
        if calibration_dir is None:
            raise BuildError(f"{model}: int8 needs a calibration directory")
        path = Path(calibration_dir) / f"{model}.npy"
        if not path.is_file():
            raise BuildError(f"{model}: int8 calibration set {path} is missing")
        calibration_bytes = path.read_bytes()
        calibration = np.load(path, allow_pickle=False).astype(np.float32)
    key = engine_key(
        model,
        onnx_bytes,
        platform,
        precision=precision,
        profiles=tuple((p.min, p.opt, p.max) for p in profiles),
        workspace_mb=workspace_mb,
        calibration=calibration_bytes,
    )
    return BuildPlan(model, onnx_bytes, profiles, precision, workspace_mb, calibration, key)


def build_serialized(plan: BuildPlan) -> bytes:
    logger = trt_logger()
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(plan.prepared_onnx):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BuildError(f"{plan.model}: TensorRT's ONNX parser refused the graph: {errors}")
    if network.num_inputs != 1:
        raise BuildError(f"{plan.model}: expected one input, the graph has {network.num_inputs}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan.workspace_mb << 20)
    if plan.precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    inp = network.get_input(0)
    shape = tuple(None if d < 0 else int(d) for d in inp.shape)
    first = None
    for profile in plan.profiles:
        p = builder.create_optimization_profile()
        p.set_shape(inp.name, *input_shapes(shape, profile))
        config.add_optimization_profile(p)
        if first is None:
            first = p
    calibrator = None
    if plan.precision == "int8":
        if plan.calibration is None:
            raise BuildError(f"{plan.model}: int8 without calibration data")
        config.set_flag(trt.BuilderFlag.INT8)
        calibrator = make_calibrator(plan.calibration, batch=plan.profiles[0].max, name=plan.model)
        config.int8_calibrator = calibrator
        config.set_calibration_profile(first)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BuildError(f"{plan.model}: TensorRT could not build the engine (see the log above)")
    return bytes(serialized)


def build_and_cache(plan: BuildPlan, cache: EngineCache, device_index: int = 0) -> Path:
    with PrimaryContext(device_index):
        data = build_serialized(plan)
    return cache.store(plan.key, data, extra={"built_with": "edged build-engines"})


def platform_for(device_index: int) -> Platform:
    return current_platform(device_index)
