"""Run this subsystem's commands through argparse exactly as ``edged`` does, without the other modules."""

from __future__ import annotations

import argparse

from edged.cli import GROUPS
from edged.identity import commands


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edged")
    sub = parser.add_subparsers(dest="command")
    groups = {name: sub.add_parser(name).add_subparsers(dest=f"{name}_command") for name in GROUPS}
    commands.register(sub, groups)
    args = parser.parse_args(argv)
    return int(args.func(args))
