"""``edged console hash-password``: the hash for ``console.password_hash`` (the password is never stored)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from edged.console.passwords import PasswordHashError, hash_password


def register(sub: Any, groups: dict[str, Any]) -> None:
    console = sub.add_parser("console", help="the operator web console (docs/console.md)")
    inner = console.add_subparsers(dest="console_command", metavar="COMMAND")
    hp = inner.add_parser(
        "hash-password",
        help="print the scrypt hash of a password (asked twice on a terminal, else a line of stdin)",
    )
    hp.set_defaults(func=_hash_password)
    console.set_defaults(func=lambda _a: (console.print_help(), 2)[1])
    bench = groups["bench"].add_parser(
        "console",
        help="e2e decision latency on the demo clip with the console's live page watched, and without",
    )
    bench.add_argument("--pairs", type=int, default=3, help="runs of each kind, alternating")
    bench.add_argument("--workdir", type=Path, default=None, help="keep the clip, gallery and config here")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from edged.console.bench import run_console_bench

    if not 1 <= args.pairs <= 20:
        print("edged: --pairs must be 1 to 20", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="edged-bench-console-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        say = (lambda _t: None) if args.json else (lambda t: print(t, flush=True))
        report = run_console_bench(work, args.pairs, say)
    if args.json:
        print(json.dumps(report))
        return 0
    for label, d in report["decision_latency_ms"].items():
        if d.get("n"):
            print(
                f"{label:<16} decision latency p50 {d['p50']} ms, p95 {d['p95']} ms over {d['n']} decisions"
            )
    print(f"live frames fetched {report['live_frames_fetched']} ({report['live_kib_fetched']} KiB)")
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("console password: ")
        if getpass.getpass("again: ") != first:
            raise PasswordHashError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _hash_password(_args: argparse.Namespace) -> int:
    try:
        password = _read_password()
        if len(password) < 12:
            raise PasswordHashError("use at least 12 characters")
        print(hash_password(password))
    except PasswordHashError as exc:
        print(f"edged: {exc}", file=sys.stderr)
        return 1
    return 0
