"""``edged gate keygen`` and ``edged bench gate`` (see ``edged/cli.py``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edged.cli import print_help_of
from edged.gate.keys import KeyFormatError, generate_scbk, write_scbk


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]],
) -> None:
    gate = sub.add_parser("gate", help="gate driver tools")
    gate_sub = gate.add_subparsers(dest="gate_command", metavar="COMMAND")
    gate.set_defaults(func=print_help_of(gate))

    keygen = gate_sub.add_parser("keygen", help="generate an OSDP secure channel base key (SCBK) file")
    keygen.add_argument("--out", type=Path, required=True, help="key file to create (mode 0600)")
    keygen.add_argument("--force", action="store_true", help="replace an existing key file")
    keygen.add_argument("--json", action="store_true")
    keygen.set_defaults(func=_keygen)

    from edged.gate.bench import DRIVERS

    bench = groups["bench"].add_parser("gate", help="grant -> output timing per driver over a pty line")
    bench.add_argument("--driver", choices=(*DRIVERS, "all"), default="all")
    bench.add_argument("--samples", type=int, default=50)
    bench.add_argument("--baudrate", type=int, default=115200, choices=(9600, 19200, 38400, 57600, 115200))
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=_bench)


def _keygen(args: argparse.Namespace) -> int:
    path: Path = args.out
    try:
        write_scbk(path, generate_scbk(), overwrite=args.force)
    except FileExistsError:
        print(f"edged gate keygen: {path} exists; use --force to replace it", file=sys.stderr)
        return 1
    except (OSError, KeyFormatError) as exc:
        print(f"edged gate keygen: cannot write {path}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"path": str(path), "bytes": 16}))
    else:
        print(f"wrote a new 16-byte SCBK to {path} (mode 0600); give the same file to the other end")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from edged.gate.bench import DRIVERS, measure

    if args.samples < 1:
        print("edged bench gate: --samples must be at least 1", file=sys.stderr)
        return 2
    names = DRIVERS if args.driver == "all" else (args.driver,)
    results = []
    for name in names:
        try:
            results.append(measure(name, args.samples, args.baudrate))
        except (RuntimeError, ImportError) as exc:
            print(f"edged bench gate: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps({"bench": "gate", "unit": "ms", "results": [r.as_dict() for r in results]}))
        return 0
    print(f"grant -> output over a pty line at {args.baudrate} baud ({args.samples} grants each)")
    print(f"{'driver':<12} {'median':>9} {'p95':>9} {'max':>9} {'failed':>7}")
    for r in results:
        print(f"{r.driver:<12} {r.median_ms:>8.2f}ms {r.p95_ms:>8.2f}ms {r.max_ms:>8.2f}ms {r.failures:>7}")
    return 0
