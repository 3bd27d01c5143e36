"""The ``edged`` command. Each subsystem adds its subcommands from its own ``commands`` module."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Each module defines ``register(sub, bench)``: ``sub`` holds top-level commands, ``bench`` the
# ``edged bench ...`` ones. A handler is set with ``parser.set_defaults(func=...)`` and returns an exit code.
COMMAND_MODULES = (
    "edged.vision.commands",
    "edged.thermal.commands",
    "edged.identity.commands",
    "edged.gate.commands",
    "edged.events.commands",
    "edged.app_commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edged", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench_parser = sub.add_parser("bench", help="benchmarks (timings are measured, never asserted)")
    bench = bench_parser.add_subparsers(dest="bench", metavar="BENCH")
    bench_parser.set_defaults(func=lambda _a: (bench_parser.print_help(), 2)[1])
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, bench)
    return parser


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
