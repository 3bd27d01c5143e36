"""Run the thermal subcommands through argparse as ``edged`` would, without importing the other
subsystems' command modules (so these tests depend only on the thermal package)."""

from __future__ import annotations

import argparse

from edged.cli import GROUPS
from edged.thermal.commands import register


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edged")
    sub = parser.add_subparsers(dest="command")
    groups = {name: sub.add_parser(name).add_subparsers(dest=f"{name}_command") for name in GROUPS}
    register(sub, groups)
    args = parser.parse_args(argv)
    return int(args.func(args))
