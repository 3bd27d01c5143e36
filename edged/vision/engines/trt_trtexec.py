"""The ``trtexec`` command line closest to what ``edged build-engines`` does through the Python API.

trtexec builds one optimisation profile, so the per-face models get a single profile spanning all batch
sizes (min 1, the wider profile's opt and max) instead of the builder's separate batch-1 profile.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from edged.vision.engines.trt_profiles import BatchProfile, input_shapes


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def trtexec_command(
    prepared_onnx: Path,
    engine: Path,
    input_name: str,
    input_shape: tuple[int | None, ...],
    profiles: tuple[BatchProfile, ...],
    precision: str,
    workspace_mb: int,
) -> str:
    args = [
        "trtexec",
        f"--onnx={prepared_onnx}",
        f"--saveEngine={engine}",
        f"--memPoolSize=workspace:{workspace_mb}M",
    ]
    if precision in ("fp16", "int8"):
        args.append("--fp16")
    if precision == "int8":
        args += ["--int8", "--calib=<calibration cache written by a calibration run>"]
    span = BatchProfile(min(p.min for p in profiles), profiles[-1].opt, max(p.max for p in profiles))
    lo, opt, hi = input_shapes(input_shape, span)
    args += [
        f"--minShapes={input_name}:{_dims(lo)}",
        f"--optShapes={input_name}:{_dims(opt)}",
        f"--maxShapes={input_name}:{_dims(hi)}",
    ]
    return " ".join(shlex.quote(a) if not a.startswith("--calib=") else a for a in args)
