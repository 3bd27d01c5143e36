"""``edged console hash-password``: the hash for ``console.password_hash`` (the password is never stored)."""

from __future__ import annotations

import argparse
import getpass
import sys
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
