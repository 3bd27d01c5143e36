"""Thermal commands: ``edged eval fever``, ``edged eval thermal-drift``, ``edged bench thermal``,
``edged calibrate registration``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from edged.config import ConfigError
from edged.thermal.registration import RegistrationError

Handler = Callable[[argparse.Namespace], int]
PARALLAX_DISTANCES_M = (0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0)


def _fail(message: str) -> int:
    print(f"edged: {message}", file=sys.stderr)
    return 1


def _guarded(func: Handler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        from edged.thermal.physionet import DatasetError

        try:
            return func(args)
        except ConfigError as exc:
            return _fail(f"invalid file:\n{exc}")
        except (DatasetError, RegistrationError, ValueError) as exc:
            return _fail(str(exc))

    return run


def cmd_eval_fever(args: argparse.Namespace) -> int:
    from edged.thermal.fever_eval import evaluate_camera
    from edged.thermal.physionet import CAMERAS, load_camera

    if not 0.5 <= args.target_sensitivity < 1.0:
        return _fail("--target-sensitivity must lie in [0.5, 1)")
    result: dict[str, object] = {}
    for camera in CAMERAS:
        data = load_camera(Path(args.data), camera)
        result[camera] = evaluate_camera(data, args.folds, args.seed, args.target_sensitivity, args.repeats)
    result["protocol"] = {
        "folds": args.folds,
        "seed": args.seed,
        "fever_c": 37.5,
        "truth": "aveOralM",
        "threshold": f"per fold, inner CV on the training part, flags {args.target_sensitivity} of fevers",
        "repeats": args.repeats,
    }
    if args.json:
        print(json.dumps(result))
        return 0
    for camera in CAMERAS:
        r = result[camera]
        assert isinstance(r, dict)
        o = r["offset_face_max"]
        print(
            f"{camera}: n={r['n']} fevers={r['n_fever']}  model: sensitivity {r['sensitivity']:.3f} "
            f"specificity {r['specificity']:.3f} MAE {r['mae']:.3f} bias {r['bias']:+.3f} °C  "
            f"thresholds {r['alarm_thresholds_c']}"
        )
        print(
            f"      offset on face max: sensitivity {o['sensitivity']:.3f} "
            f"specificity {o['specificity']:.3f} "
            f"MAE {o['mae']:.3f} bias {o['bias']:+.3f} °C;  site offsets {r['site_offsets_c']}"
        )
        c = r["ceiling"]
        assert isinstance(c, dict)
        print(
            f"      best single threshold chosen after the fact (a reference, not a result): specificity "
            f"{c['specificity_at_sensitivity']} at sensitivity; it misses fevers of oral "
            f"{c['missed_fevers_oral_c']} °C"
        )
        rep = r.get("repeats")
        if isinstance(rep, dict):
            print(
                f"      over seeds {rep['seeds']}: sensitivity {rep['sensitivity']}, "
                f"specificity {rep['specificity']}, MAE {rep['mae']}; after-the-fact specificity at 0.95 "
                f"sensitivity {rep['ceiling_specificity_at_0.95']}"
            )
    return 0


def cmd_eval_thermal_drift(args: argparse.Namespace) -> int:
    from edged.thermal.drift_eval import run_drift_scene

    result = run_drift_scene(frames=args.frames, drift_c=args.drift, seed=args.seed, size=tuple(args.size))
    if args.json:
        print(json.dumps(result))
        return 0
    for key in ("with_reference", "without_reference"):
        r = result[key]
        assert isinstance(r, dict)
        print(f"{key}: max |error| {r['max_abs_error_c']:.3f} °C, mean error {r['mean_error_c']:+.3f} °C")
    return 0


def cmd_bench_thermal(args: argparse.Namespace) -> int:
    from edged.thermal.bench import bench_measure

    sizes: tuple[tuple[int, int], ...] = ((160, 120), (320, 240), (640, 480))
    results = [bench_measure(size, args.repeats) for size in sizes]
    if args.json:
        print(json.dumps({"measure_per_face": results}))
        return 0
    for r in results:
        print(f"measure() {r['size']}: median {r['median_ms']} ms, p95 {r['p95_ms']} ms per face")
    return 0


def cmd_calibrate_registration(args: argparse.Namespace) -> int:
    from edged.thermal.calibration_file import read_point_pairs
    from edged.thermal.registration import estimate_homography, focal_px_from_fov, parallax_px, usable_range_m

    spec = read_point_pairs(Path(args.pairs))
    rgb, thermal = spec.points()
    fit = estimate_homography(rgb, thermal)
    registration = {
        "homography": [[round(float(v), 9) for v in row] for row in fit.matrix],
        "rgb_size": list(spec.rgb_size),
        "thermal_size": list(spec.thermal_size),
        "calibrated_distance_m": spec.calibrated_distance_m,
    }
    focal = focal_px_from_fov(spec.thermal_size[0], spec.thermal_hfov_deg)
    parallax = {
        f"{d:g}": round(parallax_px(focal, spec.baseline_m, spec.calibrated_distance_m, d), 2)
        for d in PARALLAX_DISTANCES_M
    }
    near, far = usable_range_m(focal, spec.baseline_m, spec.calibrated_distance_m, args.max_parallax_px)
    report = {
        "registration": registration,
        "pairs": len(rgb),
        "rms_px": round(fit.rms_px, 3),
        "max_px": round(fit.max_px, 3),
        "thermal_focal_px": round(focal, 1),
        "parallax_px_at_m": parallax,
        "max_parallax_px": args.max_parallax_px,
        "usable_range_m": [round(near, 2), None if far is None else round(far, 2)],
    }
    if args.json:
        print(json.dumps(report))
        return 0
    far_text = "no limit" if far is None else f"{far:.2f} m"
    print(f"# {len(rgb)} point pairs, reprojection error rms {fit.rms_px:.2f} px, max {fit.max_px:.2f} px")
    print("# parallax (thermal px) at: " + ", ".join(f"{d} m {p}" for d, p in parallax.items()))
    print(f"# within {args.max_parallax_px} px: {near:.2f} m … {far_text}")
    print(
        yaml.safe_dump({"thermal": {"registration": registration}}, default_flow_style=None, sort_keys=False),
        end="",
    )
    return 0


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]],
) -> None:
    """Add ``eval fever``, ``eval thermal-drift``, ``bench thermal`` and ``calibrate registration``."""
    p = groups["eval"].add_parser("fever", help="skin→oral estimate and fever alarm, 5-fold CV on PhysioNet")
    p.add_argument("--data", required=True, help="physionet_facial_oral_temperature_v1.0.0 folder")
    p.add_argument("--folds", type=int, default=5, choices=range(2, 21), metavar="K")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-sensitivity", type=float, default=0.95, help="chosen inside each training fold")
    p.add_argument("--repeats", type=int, default=5, choices=range(1, 51), metavar="R", help="fold splits")
    p.add_argument("--json", action="store_true", help="one JSON object keyed by camera")
    p.set_defaults(func=_guarded(cmd_eval_fever))

    p = groups["eval"].add_parser("thermal-drift", help="canthus error on synthetic scenes with camera drift")
    p.add_argument("--frames", type=int, default=81, choices=range(2, 100001), metavar="N")
    p.add_argument("--drift", type=float, default=2.0, help="camera offset sweeps from −D to +D °C")
    p.add_argument("--size", type=int, nargs=2, default=(160, 120), metavar=("W", "H"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guarded(cmd_eval_thermal_drift))

    p = groups["bench"].add_parser("thermal", help="time of one face measurement on synthetic frames")
    p.add_argument("--repeats", type=int, default=200, choices=range(1, 100001), metavar="N")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guarded(cmd_bench_thermal))

    p = groups["calibrate"].add_parser("registration", help="RGB→thermal homography from point pairs")
    p.add_argument("--pairs", required=True, help="YAML file of point pairs (see docs/thermal.md)")
    p.add_argument("--max-parallax-px", type=float, default=2.0, help="for the usable range")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guarded(cmd_calibrate_registration))
