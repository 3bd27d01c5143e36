"""``edged eval openset`` and ``edged calibrate threshold`` (the protocol: ``openset.py``, the run:
``openset_run.py``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_CALIBRATION_DIR = Path(__file__).resolve().parent / "data"


def _numbers(kind: Callable[[str], Any], least: float) -> Callable[[str], tuple[Any, ...]]:
    def parse(text: str) -> tuple[Any, ...]:
        try:
            values = tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
        if not values or len(values) > 8 or any(v < least for v in values):
            raise argparse.ArgumentTypeError(f"1 to 8 numbers, each at least {least}: {text!r}")
        return values

    return parse


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


def _text(result: dict[str, Any], name: str) -> list[str]:
    lines = [
        f"{name}: TAR at FAR "
        + ", ".join(
            f"{k} {_pct(v)}" if v is not None else f"{k} unresolved" for k, v in result["tar_at_far"].items()
        )
        + f" ({result['impostor_pairs']:,} impostor pairs, {result['genuine_pairs']:,} genuine)"
    ]
    for label, size in result["gallery_size"].items():
        cal = result["calibrated"][label]["by_margin"]
        shipped = f"FPIR {_pct(result['fpir'][label])} FNIR {_pct(result['fnir'][label])}"
        lines.append(
            f"  N={size}: shipped point {shipped};"
            f" calibrated (target FPIR {result['calibrated'][label]['target_fpir']:g}) "
            + "; ".join(f"margin {m}: FPIR {_pct(r['fpir'])} FNIR {_pct(r['fnir'])}" for m, r in cal.items())
        )
    return lines


def eval_openset(args: argparse.Namespace) -> int:
    from edged.vision.commands import _config, make_pipeline
    from edged.vision.openset_run import Protocol, lfw_images, run_openset

    lfw_images(Path(args.data))  # a missing or empty copy is refused before the models load
    if args.plot:
        import importlib.util
        import sys

        if importlib.util.find_spec("matplotlib") is None:
            print("edged: --plot needs matplotlib (pip install 'edged[peers]')", file=sys.stderr)
            return 2
    protocol = Protocol(
        splits=args.splits,
        enrolled_fraction=args.enrolled,
        sizes=args.sizes,
        margins=args.margins,
        target_fpir=args.target_fpir,
        seed=args.seed,
        draws=args.draws,
    )
    result = run_openset(
        make_pipeline(_config(args)),
        Path(args.data),
        protocol=protocol,
        masked=not args.no_masked,
        max_identities=args.max_identities,
    )
    if args.plot:
        from edged.vision.openset_plot import plot_det

        result["plot"] = str(plot_det(result, Path(args.plot)))
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"open-set LFW: {result['images']} images ({result['images_with_face']} with a face), "
        f"{result['identities']} people, {result['splits']} splits "
        f"({100 * result['enrolled_fraction']:.0f} % of the people enrolled)"
    )
    for line in _text(result, "unmasked"):
        print(line)
    if result["masked"] is not None:
        for line in _text(result["masked"], "masked probes"):
            print(line)
    else:
        print(f"masked probes: skipped ({result['masked_skipped']})")
    return 0


def calibrate_threshold(args: argparse.Namespace) -> int:
    from edged.identity.gallery import embedder_tag
    from edged.identity.operating_point import save_calibration
    from edged.vision.commands import _config, make_pipeline
    from edged.vision.openset_run import calibration, lfw_images

    lfw_images(Path(args.data))
    cfg = _config(args)
    tag = embedder_tag(cfg.vision)
    out = Path(args.out) if args.out else DEFAULT_CALIBRATION_DIR / f"calibration-{tag.model_id}.json"
    source = f"edged calibrate threshold --data {args.data}" + (" --no-masked" if args.no_masked else "")
    cal, info = calibration(make_pipeline(cfg), Path(args.data), tag, source, masked=not args.no_masked)
    save_calibration(cal, out)
    print(
        f"{out}: embedder {cal.embedder}; unmasked tail from {cal.unmasked.pairs:,} impostor pairs"
        + (f", masked from {cal.masked.pairs:,}" if cal.masked is not None else ", no masked tail")
        + f" ({info['images_with_face']} images, {info['identities']} people)"
    )
    return 0


def register_openset(
    groups: dict[str, Any], guarded: Callable[[Any], Any], add_config: Callable[[Any], None]
) -> None:
    from edged.vision.commands import whole_number

    p = groups["eval"].add_parser(
        "openset",
        help="open-set LFW (BLUFR-like): all images, splits of the people, FPIR/FNIR at gallery size",
    )
    p.add_argument("--data", required=True, help="LFW folder holding lfw-deepfunneled/")
    p.add_argument("--splits", type=whole_number(1, 50), default=5, help="seeded splits of the people")
    p.add_argument(
        "--enrolled",
        type=float,
        default=0.75,
        help="share of the people enrolled in each split (0.1 to 0.95)",
    )
    p.add_argument(
        "--sizes", type=_numbers(int, 2), default=(100, 1000), help="gallery sizes besides the full one"
    )
    p.add_argument(
        "--margins", type=_numbers(float, 0.0), default=(0.0, 0.05, 0.1), help="margins over the best other"
    )
    p.add_argument("--target-fpir", type=float, default=1e-2, help="FPIR the calibrated thresholds aim at")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draws", type=whole_number(0, 2000), default=200, help="identity resamples (intervals)")
    p.add_argument(
        "--max-identities", type=whole_number(4), default=None, help="only this many people (seeded draw)"
    )
    p.add_argument("--no-masked", action="store_true", help="skip the masked probes")
    p.add_argument("--plot", metavar="DIR", help="write the DET plot openset-det.png into DIR")
    p.add_argument("--json", action="store_true")
    add_config(p)
    p.set_defaults(func=guarded(_checked(eval_openset)))

    p = groups["calibrate"].add_parser(
        "threshold", help="impostor tails (unmasked, masked) from all LFW cross pairs, for vision.target_fpir"
    )
    p.add_argument("--data", required=True, help="LFW folder holding lfw-deepfunneled/")
    p.add_argument("--out", help="calibration JSON (default: edged/vision/data/calibration-<model>.json)")
    p.add_argument("--no-masked", action="store_true", help="no masked tail")
    add_config(p)
    p.set_defaults(func=guarded(calibrate_threshold))


def _checked(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import sys

        if not 0.1 <= args.enrolled <= 0.95 or not 0.0 < args.target_fpir < 1.0:
            print("edged: --enrolled must be 0.1 to 0.95 and --target-fpir inside (0, 1)", file=sys.stderr)
            return 2
        return func(args)

    return run
