"""Subcommands of this subsystem (see ``edged/cli.py``)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction[Any], bench: argparse._SubParsersAction[Any]) -> None:
    """Add this subsystem's commands; none yet."""
