"""``edged run``, ``edged demo`` and ``edged bench e2e``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from edged.config.loader import ConfigError

log = logging.getLogger(__name__)


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]],
) -> None:
    run = sub.add_parser("run", help="run the daemon (under systemd: Type=notify, watchdog, SIGHUP reload)")
    run.add_argument("--config", type=Path, help="edged.yaml (default: built-in defaults)")
    run.add_argument("--video", type=Path, help="replay this clip instead of the configured camera")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="the whole daemon end to end on a generated clip, nothing else needed")
    demo.add_argument("--workdir", type=Path, help="keep the demo's files here (default: a temporary folder)")
    demo.add_argument("--prepare", action="store_true", help="only fetch and check the demo's sample faces")
    demo.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    demo.set_defaults(func=cmd_demo)

    e2e = groups["bench"].add_parser("e2e", help="replay a clip at its frame rate through the full daemon")
    e2e.add_argument("--video", type=Path, required=True)
    e2e.add_argument(
        "--config", type=Path, help="edged.yaml (gallery, policy, vision); gate and MQTT are local"
    )
    e2e.add_argument(
        "--fast", action="store_true", help="read the clip as fast as possible, not at its frame rate"
    )
    e2e.add_argument("--json", action="store_true", help="print the report as one JSON object")
    e2e.set_defaults(func=cmd_bench_e2e)


def _fail(message: str, code: int = 1) -> int:
    print(f"edged: {message}", file=sys.stderr)
    return code


def _load(path: Path | None) -> Any:
    from edged.config.schema import load_config

    return load_config(path)


def cmd_run(args: argparse.Namespace) -> int:
    from edged.app import Daemon, StartupError
    from edged.capture.config import FileSourceConfig

    try:
        cfg = _load(args.config)
    except ConfigError as exc:
        return _fail(f"invalid config:\n{exc}", 2)
    logging.getLogger("edged").setLevel(cfg.log_level.upper())
    rgb = FileSourceConfig(path=args.video) if args.video else None
    daemon = Daemon(cfg, args.config, rgb=rgb)
    daemon.install_signal_handlers()
    try:
        daemon.start()
    except StartupError as exc:
        daemon.stop()
        return _fail(str(exc))
    source = rgb or cfg.cameras.rgb
    replay = isinstance(source, FileSourceConfig) and not source.loop
    try:
        daemon.run(until_ended=replay)  # a replayed file ends the run; a camera runs until SIGTERM
    finally:
        daemon.stop()
    return 0


def cmd_bench_e2e(args: argparse.Namespace) -> int:
    from edged.app import StartupError
    from edged.app_bench import run_e2e

    if not args.video.is_file():
        return _fail(f"video {args.video} does not exist")
    try:
        cfg = _load(args.config)
    except ConfigError as exc:
        return _fail(f"invalid config:\n{exc}", 2)
    try:
        report = run_e2e(cfg, args.video, config_path=args.config, realtime=not args.fast)
    except StartupError as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(report))
    else:
        _print_bench(report)
    return 0


def _print_bench(r: dict[str, Any]) -> None:
    d = r["decision_latency_ms"]
    print(f"{r['video']}: {r['frames']} frames at {r['fps']} fps, {r['dropped']} dropped, {r['wall_s']} s")
    if d.get("n"):
        print(f"decision latency ms: p50 {d['p50']}  p95 {d['p95']}  p99 {d['p99']}  (n={d['n']})")
    for stage, s in r["stages"].items():
        if s.get("n"):
            print(
                f"  {stage:<10} p50 {s['p50']:>7} ms  p95 {s['p95']:>7} ms  p99 {s['p99']:>7} ms  n={s['n']}"
            )
    print(f"cpu {r['cpu_percent']} %  rss {r['rss_mb']} MB")
    for p in r["passages"]:
        why = ", ".join(p["reasons"]) or "-"
        print(f"  track {p['track_id']}: {p['decision']} {p['person_id'] or 'unknown'} ({why})")


def cmd_demo(args: argparse.Namespace) -> int:
    from edged.app_demo import DemoError, prepare_samples, run_demo

    if not getattr(args, "verbose", False):
        logging.getLogger("edged").setLevel(logging.WARNING)  # the demo prints its events itself
    try:
        if args.prepare:
            paths = prepare_samples()
            print("demo samples ready: " + ", ".join(str(p) for p in paths))
            return 0
        summary = run_demo(args.workdir, quiet=args.json)
    except DemoError as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(summary))
    return 0 if summary.get("ok") else 1
