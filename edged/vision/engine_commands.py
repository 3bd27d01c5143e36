"""``edged build-engines``: build the TensorRT engines of every pinned model, and of the project's own
models (mask classifier, masked-face head) after checking them against their cards, into the engine cache.

Run by ``edged-engines.service`` before ``edged.service`` on every boot: when every cached engine
matches its key (TensorRT version, GPU, precision, graph, profiles) it only checks and exits; when any
key changed (a JetPack upgrade, a new model, another precision) it rebuilds what is stale.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edged.config import ConfigError
from edged.models import FACE_MODELS, ModelError, model_file, resolve_models_dir, verified_path
from edged.vision.config import TensorRTEngineConfig
from edged.vision.engines.prepare import prepared_model_bytes
from edged.vision.engines.trt_cache import EngineCache, EngineCacheError, default_engine_cache_dir
from edged.vision.engines.trt_profiles import batch_profiles
from edged.vision.engines.trt_trtexec import trtexec_command

MODEL_NAMES = tuple(f.name.removesuffix(".onnx") for f in FACE_MODELS.files)  # the default set
NO_TENSORRT = (
    "TensorRT and pycuda are not importable here: on a Jetson install JetPack's python3-libnvinfer and "
    "pycuda (scripts/setup-jetson), elsewhere pip install 'edged[trt]' (docs/jetson.md)"
)


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]],
) -> None:
    p = sub.add_parser(
        "build-engines", help="build the TensorRT engines into the engine cache (GPU machines)"
    )
    p.add_argument("--config", type=Path, help="edged.yaml (its engine section; default: built-in defaults)")
    p.add_argument("--models-dir", type=Path, help="installed models (default: config or the data dir)")
    p.add_argument("--cache-dir", type=Path, help="engine cache (default: config, $CACHE_DIRECTORY/engines)")
    p.add_argument("--precision", choices=("fp16", "fp32", "int8"), help="override the configured precision")
    p.add_argument("--force", action="store_true", help="rebuild even the engines that are up to date")
    p.add_argument("--check", action="store_true", help="only report; exit 1 when any engine needs a build")
    p.add_argument("--keep-stale", action="store_true", help="do not delete engines no current key loads")
    p.add_argument(
        "--print-trtexec",
        type=Path,
        metavar="DIR",
        help="write the prepared ONNX files into DIR and print the equivalent trtexec lines (no GPU needed)",
    )
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=cmd_build_engines)


def _fail(message: str, code: int = 1) -> int:
    print(f"edged: {message}", file=sys.stderr)
    return code


def model_names(embedder: str) -> tuple[str, ...]:
    """The default set, plus the configured embedder when it is an optional one (``vision.embedder``)."""
    return MODEL_NAMES if embedder in MODEL_NAMES else (*MODEL_NAMES, embedder)


def _engine_config(args: argparse.Namespace) -> tuple[TensorRTEngineConfig | None, Path]:
    from edged.config.schema import load_config

    cfg = load_config(args.config)
    models_dir = resolve_models_dir(args.models_dir or cfg.models.dir)
    args.model_names = model_names(cfg.vision.embedder)
    if not isinstance(cfg.engine, TensorRTEngineConfig):
        return None, models_dir
    engine = cfg.engine.model_copy()
    if args.precision:
        engine = TensorRTEngineConfig.model_validate({**engine.model_dump(), "precision": args.precision})
    if args.cache_dir:
        engine.engine_cache_dir = args.cache_dir
    return engine, models_dir


def cmd_build_engines(args: argparse.Namespace) -> int:
    try:
        engine, models_dir = _engine_config(args)
    except ConfigError as exc:
        return _fail(f"invalid config:\n{exc}", 2)
    except ValidationError as exc:
        return _fail("invalid option: " + "; ".join(e["msg"] for e in exc.errors()), 2)
    if args.print_trtexec is not None:
        return _print_trtexec(args, engine or TensorRTEngineConfig.model_validate({}), models_dir)
    if engine is None:
        report: dict[str, Any] = {"engine": "onnxruntime", "models": [], "note": "nothing to build"}
        _emit(args, report, ["engine type is onnxruntime: no TensorRT engines to build"])
        return 0
    try:
        from edged.vision.engines import trt_builder
    except ImportError:
        return _fail(NO_TENSORRT, 2)
    try:
        return _build_all(args, engine, models_dir, trt_builder)
    except (ModelError, EngineCacheError, trt_builder.BuildError) as exc:
        return _fail(str(exc))


@contextlib.contextmanager
def model_folders(models_dir: Path, names: tuple[str, ...] = MODEL_NAMES) -> Iterator[list[tuple[str, Path]]]:
    """(model name, folder of its ONNX file) for every engine the daemon can load: the pinned set, then the
    project's own models once their cards check out; the masked-face head's graph (the embedder with the
    head's weights) is written into a temporary folder for the build."""
    from edged.vision import mask
    from edged.vision.masked import head

    folders = [(m, models_dir) for m in names]
    with tempfile.TemporaryDirectory(prefix="edged-engines-") as tmp:
        if mask.MODEL_PATH.exists():
            mask.verify()
            folders.append((mask.MODEL_PATH.stem, mask.MODEL_PATH.parent))
        if head.HEAD_PATH.exists():
            graph = Path(tmp) / f"{head.MASKED_EMBEDDER}.onnx"
            graph.write_bytes(head.masked_embedder_bytes(models_dir, head.verified_head()))
            folders.append((head.MASKED_EMBEDDER, graph.parent))
        yield folders


def _build_all(args: argparse.Namespace, engine: TensorRTEngineConfig, models_dir: Path, tb: Any) -> int:
    with model_folders(models_dir, args.model_names) as folders:
        return _build_each(args, engine, folders, tb)


def _build_each(
    args: argparse.Namespace, engine: TensorRTEngineConfig, folders: list[tuple[str, Path]], tb: Any
) -> int:
    cache = EngineCache(engine.engine_cache_dir or default_engine_cache_dir())
    platform = tb.platform_for(engine.device)
    rows: list[dict[str, Any]] = []
    keys = []
    failed = False
    for model, folder in folders:
        plan = tb.plan_build(
            folder,
            model,
            platform=platform,
            precision=engine.precision_for(model),
            max_batch=engine.max_batch,
            opt_batch=engine.opt_batch,
            workspace_mb=engine.workspace_mb,
            calibration_dir=engine.int8_calibration_dir,
        )
        keys.append(plan.key)
        reason = cache.check(plan.key)
        row: dict[str, Any] = {"model": model, "engine": str(cache.engine_path(plan.key))}
        if reason is None and not args.force:
            row["status"] = "up to date"
        elif args.check:
            row.update(status="needs build", reason=reason or "forced")
            failed = True
        else:
            t = time.perf_counter()
            tb.build_and_cache(plan, cache, engine.device)
            row.update(status="built", reason=reason or "forced", seconds=round(time.perf_counter() - t, 1))
            if plan.precision == "int8":
                gate = _int8_gate(model, folder, engine, plan.calibration)
                row["accuracy_check"] = [c.line() for c in gate]
                if not all(c.passed for c in gate):
                    cache.engine_path(plan.key).unlink(missing_ok=True)
                    cache.manifest_path(plan.key).unlink(missing_ok=True)
                    row["status"] = "rejected: int8 accuracy check failed (engine deleted)"
                    failed = True
        rows.append(row)
    pruned = [] if (args.check or args.keep_stale) else [str(p) for p in cache.prune(keys)]
    report = {
        "platform": platform.__dict__,
        "precision": engine.precision,
        "cache_dir": str(cache.directory),
        "models": rows,
        "pruned": pruned,
    }
    lines = [f"{r['model']}: {r['status']}" + (f" ({r['reason']})" if "reason" in r else "") for r in rows]
    lines += [f"removed stale {p}" for p in pruned]
    _emit(args, report, lines)
    return 1 if failed else 0


def _int8_gate(model: str, folder: Path, engine: TensorRTEngineConfig, calibration: Any) -> list[Any]:
    """Measured accuracy of the fresh INT8 engine against ONNX Runtime on the calibration inputs."""
    from edged.vision.config import OnnxRuntimeEngineConfig
    from edged.vision.engines.onnxruntime_engine import OnnxRuntimeEngine
    from edged.vision.engines.tensorrt_engine import TensorRTEngine
    from edged.vision.engines.trt_compare import INT8_TOLERANCES, accuracy_gate

    path = model_file(folder, f"{model}.onnx")
    candidate = TensorRTEngine(path, engine)
    reference = OnnxRuntimeEngine(path, OnnxRuntimeEngineConfig.model_validate({}))
    try:
        names = [o.name for o in reference.outputs]
        return accuracy_gate(model, names, candidate.infer, reference.infer, calibration, INT8_TOLERANCES)
    finally:
        candidate.close()


def _print_trtexec(args: argparse.Namespace, engine: TensorRTEngineConfig, models_dir: Path) -> int:
    import onnx

    out_dir: Path = args.print_trtexec
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    rows = []
    for model in args.model_names:
        try:
            data = prepared_model_bytes(verified_path(models_dir, f"{model}.onnx"))
        except ModelError as exc:
            return _fail(str(exc))
        onnx_path = out_dir / f"{model}.prepared.onnx"
        onnx_path.write_bytes(data)
        graph = onnx.load_from_string(data).graph
        inits = {i.name for i in graph.initializer}
        inp = next(i for i in graph.input if i.name not in inits)
        shape = tuple(
            d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim
        )
        cmd = trtexec_command(
            onnx_path,
            out_dir / f"{model}.{engine.precision_for(model)}.engine",
            inp.name,
            shape,
            batch_profiles(model, engine.max_batch, engine.opt_batch),
            engine.precision_for(model),
            engine.workspace_mb,
        )
        lines.append(cmd)
        rows.append({"model": model, "prepared_onnx": str(onnx_path), "trtexec": cmd})
    _emit(args, {"models": rows}, lines)
    return 0


def _emit(args: argparse.Namespace, report: dict[str, Any], lines: list[str]) -> None:
    if args.json:
        print(json.dumps(report))
    else:
        print("\n".join(lines))
