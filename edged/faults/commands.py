"""``edged bench faults``: every fault scenario against real peers, one line (or JSON) per scenario."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]],
) -> None:
    faults = groups["bench"].add_parser(
        "faults", help="fault injection against real peers: each scenario's outcome and what it observed"
    )
    faults.add_argument("--only", nargs="+", metavar="NAME", help="only these scenarios or groups")
    faults.add_argument("--list", action="store_true", help="list the scenarios and exit")
    faults.add_argument("--workdir", type=Path, help="keep each scenario's files here (default: temporary)")
    faults.add_argument("--json", action="store_true", help="print the report as one JSON object")
    faults.set_defaults(func=cmd_bench_faults)


def cmd_bench_faults(args: argparse.Namespace) -> int:
    from edged.faults import all_scenarios, run_all

    if args.list:
        for s in all_scenarios():
            print(f"{s.group}\t{s.name}")
        return 0
    with tempfile.TemporaryDirectory(prefix="edged-faults-") as tmp:
        report = run_all(args.workdir or Path(tmp), args.only)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for r in report["results"]:
            verdict = "ok  " if r["ok"] else "FAIL"
            print(f"{verdict} {r['group']}/{r['name']} ({r['seconds']} s): {r['observed']}")
        print(f"{report['scenarios']} scenarios: {report['passed']} passed, {report['failed']} failed")
    return 0 if report["scenarios"] and not report["failed"] else 1
