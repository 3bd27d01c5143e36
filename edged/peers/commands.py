"""``edged bench peers``: edged against face_recognition (dlib), MTCNN and OpenCV's res10 SSD."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from edged.models import ModelError, resolve_models_dir, verify_installed
from edged.peers.bench import BenchError, Options, check_data, run
from edged.peers.files import default_peers_dir, missing_peer_files
from edged.peers.pipelines import FACTORIES, PeerUnavailable, Settings
from edged.vision.config import VisionConfig

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
TABLE_START = "<!-- edged bench peers: table -->"
TABLE_END = "<!-- /edged bench peers: table -->"


def default_data_dir() -> Path:
    return Path(os.environ.get("EDGED_SHARED_DATA", REPO.parent / "shared" / "data"))


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]],
) -> None:
    p = groups["bench"].add_parser(
        "peers",
        help="edged against face_recognition, MTCNN and the res10 SSD on LFW, masked faces and a clip",
        description="Runs every pipeline on the same inputs in one run, alternating per input. "
        "Peers are installed by scripts/fetch-peers.",
    )
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument(
        "--render", type=Path, metavar="JSON", help="print the Markdown table of a saved report; no run"
    )
    p.add_argument("--plot", type=Path, metavar="DIR", help="write peers-roc.png and peers-latency.png here")
    p.add_argument(
        "--write-table",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help=f"replace the table between {TABLE_START} and {TABLE_END} in FILE (repeatable)",
    )
    p.add_argument("--data", type=Path, default=None, help="evaluation data (default ../shared/data)")
    p.add_argument("--config", type=Path, help="edged.yaml whose models/vision sections to use")
    p.add_argument("--models-dir", type=Path, help="edged's verified models (default: installed set)")
    p.add_argument("--peers-dir", type=Path, help="peer model files (default: beside the models)")
    p.add_argument("--pipelines", default=",".join(FACTORIES), help="comma-separated; must include edged")
    p.add_argument("--folds", type=int, default=10, help="LFW View 2 folds to use (1..10)")
    p.add_argument(
        "--masked-folds", type=int, default=None, help="folds of the masked protocol (default: --folds)"
    )
    p.add_argument(
        "--pairs-per-fold", type=int, default=None, help="quick runs: first N/2 genuine + N/2 impostor"
    )
    p.add_argument("--frames", type=int, default=100, help="frames of the portal clip")
    p.add_argument(
        "--mask-images", type=int, default=None, help="first N photos of the mask set (default all)"
    )
    p.add_argument(
        "--min-face-px", type=float, default=40.0, help="masked-face recall counts boxes this wide"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes, each alternating all pipelines (default: one per CPU)",
    )
    p.add_argument("--threads", type=int, default=1, help="threads per pipeline (dlib uses one)")
    p.set_defaults(func=cmd_bench_peers)


def settings_from(args: argparse.Namespace) -> Settings:
    vision = VisionConfig.model_validate({})
    models_dir = args.models_dir
    if args.config is not None:
        from edged.config.schema import load_config

        cfg = load_config(args.config)
        vision = cfg.vision
        models_dir = models_dir or cfg.models.dir
    models_dir = resolve_models_dir(models_dir)
    problems = verify_installed(models_dir)
    if problems:
        raise BenchError(f"edged models: {problems[0]} (run scripts/fetch-models)")
    peers_dir = Path(args.peers_dir or default_peers_dir())
    names = [n.strip() for n in args.pipelines.split(",") if n.strip()]
    if {"mtcnn", "opencv_ssd"} & set(names):
        missing = missing_peer_files(peers_dir)
        if missing:
            raise BenchError(f"peer files: {missing[0]}")
    return Settings(models_dir, peers_dir, vision, max(1, args.threads))


def cmd_bench_peers(args: argparse.Namespace) -> int:
    if args.render is not None:
        return render(args.render, args.write_table)
    names = [n.strip() for n in args.pipelines.split(",") if n.strip()]
    opts = Options(
        data_dir=Path(args.data or default_data_dir()),
        pipelines=names,
        folds=args.folds,
        masked_folds=args.folds if args.masked_folds is None else args.masked_folds,
        frames=max(0, args.frames),
        mask_images=args.mask_images,
        min_face_px=args.min_face_px,
        workers=max(1, args.workers),
        pairs_per_fold=args.pairs_per_fold,
    )
    try:
        check_data(opts)
        for path in args.write_table:  # before the run, not after half an hour of it
            marked_table(path)
        settings = settings_from(args)
        report, curves = run(opts, settings)
    except (BenchError, PeerUnavailable, ModelError) as exc:
        print(f"edged bench peers: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a peer library failing mid-run: one line, not a traceback
        log.debug("bench failed", exc_info=True)
        print(f"edged bench peers: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.plot is not None:
        from edged.peers.plots import write_plots

        report["run"]["plots"] = [str(p) for p in write_plots(curves, args.plot)]
    if args.json:
        print(json.dumps(report, default=_json_default))
    else:
        print(table(report))
    return _write_tables(report, args.write_table)


def render(path: Path, write_to: list[Path]) -> int:
    try:
        report = json.loads(path.read_text())
        print(table(report))
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
        print(f"edged bench peers: {path}: not a saved report: {exc}", file=sys.stderr)
        return 2
    return _write_tables(report, write_to)


def _write_tables(report: dict[str, Any], files: list[Path]) -> int:
    try:
        write_table(report, files)
    except BenchError as exc:
        print(f"edged bench peers: {exc}", file=sys.stderr)
        return 2
    return 0


def marked_table(path: Path) -> tuple[str, int, int]:
    """The file's text and where its table block starts and ends; BenchError if it has none."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise BenchError(f"{path}: {exc.strerror or exc}") from None
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        raise BenchError(f"{path}: no {TABLE_START} ... {TABLE_END} block to put the table in")
    return text, start, end + len(TABLE_END)


def write_table(report: dict[str, Any], files: list[Path]) -> None:
    """Put the report's table between the markers in each file (README, docs), so one command keeps
    them current. All files are checked before any is written; one without the markers is left as is."""
    block = f"{TABLE_START}\n{table(report)}\n{TABLE_END}"
    updated: dict[Path, str] = {}
    for path in files:
        text, start, end = marked_table(path)
        updated[path] = text[:start] + block + text[end:]
    for path, text in updated.items():
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * v:.2f} %"


def _ms(v: Any) -> str:
    return "–" if v is None else f"{v:.1f}"


def table(report: dict[str, Any]) -> str:
    """The Markdown table docs/peers.md shows (``edged bench peers`` without ``--json``)."""
    names = [n for n in report if n not in ("ratios", "run")]
    rows = [
        "| pipeline | LFW accuracy | TAR @ FAR 1e-3 | LFW faces missed | masked-probe LFW accuracy | "
        "masked-face recall (≥ min px) | ms / LFW image | edged time ÷ peer's | detect ms (mask photo) | "
        "detect ms (clip frame) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in names:
        r = report[n]
        ratio = report["ratios"].get(n, {}).get("ms_per_image")
        rows.append(
            f"| {n} | {_pct(r.get('lfw_accuracy'))} | {_pct(r.get('lfw_tar_at_far_1e-3'))} | "
            f"{r.get('lfw_faces_missed', '–')} / {r.get('lfw_images', '–')} | "
            f"{_pct(r.get('masked_lfw_accuracy'))} | {_pct(r.get('mask_detection_recall'))} | "
            f"{_ms(r.get('ms_per_image'))} | {'–' if ratio is None else f'{ratio:.3f}'} | "
            f"{_ms(r.get('mask_photo_detect_ms'))} | {_ms(r.get('video_detect_ms'))} |"
        )
    return "\n".join(rows)
