"""The ``edged`` command. Each subsystem adds its subcommands from its own ``commands`` module."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

# Each module defines ``register(sub, groups)``: ``sub`` holds top-level commands, ``groups[name]`` the
# subcommands of the shared groups ``edged bench|eval|calibrate|gallery|models ...``. A handler is set with
# ``parser.set_defaults(func=...)`` and returns an exit code.
COMMAND_MODULES = (
    "edged.vision.commands",
    "edged.vision.mask_commands",
    "edged.thermal.commands",
    "edged.identity.commands",
    "edged.gate.commands",
    "edged.events.commands",
    "edged.app_commands",
    "edged.peers.commands",
    "edged.vision.engine_commands",
    "edged.faults.commands",
    "edged.console.commands",
)


GROUPS = {
    "bench": "benchmarks (timings are measured and reported, never asserted)",
    "eval": "accuracy evaluations on data sets",
    "calibrate": "installation calibration",
    "gallery": "the enrolled people",
    "models": "the pinned model set",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edged", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    for group, help_text in GROUPS.items():
        group_parser = sub.add_parser(group, help=help_text)
        groups[group] = group_parser.add_subparsers(dest=f"{group}_command", metavar="COMMAND")
        group_parser.set_defaults(func=print_help_of(group_parser))
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, groups)
    return parser


def print_help_of(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """A handler for a command group given no subcommand: print the group's help, exit code 2."""

    def show(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
