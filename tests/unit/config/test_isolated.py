"""A reload's config check runs in a child process with memory and time limits."""

from __future__ import annotations

import os
from pathlib import Path

from edged.config import ConfigError
from edged.config.isolated import IsolatedCheck
from edged.config.schema import EdgedConfig
from edged.faults.hostile_files import yaml_alias_bomb


def test_good_file_gives_its_config_and_a_bomb_its_line(tmp_path: Path) -> None:
    path = tmp_path / "edged.yaml"
    path.write_text("lane: lane-4\n")
    result = IsolatedCheck(path).start().wait()
    assert isinstance(result, EdgedConfig) and result.lane == "lane-4"
    path.write_text("lane: lane-4\n" + yaml_alias_bomb())
    result = IsolatedCheck(path).start().wait()
    assert isinstance(result, ConfigError)
    assert (
        str(result) == f"{path}:7: aliases expand this to more than 100000 values; refused (an alias bomb?)"
    )


def test_memory_limit_refuses_instead_of_growing(tmp_path: Path) -> None:
    path = tmp_path / "edged.yaml"
    path.write_text("lane: lane-4\n")
    result = IsolatedCheck(path, memory_bytes=32 << 20).start().wait()  # below what Python itself needs
    assert isinstance(result, ConfigError)
    assert str(result).startswith(f"{path}:1: checking it ran out of memory (limit 32 MB")


def test_a_file_that_hangs_is_refused_after_the_time_limit_and_cancel_stops_it(tmp_path: Path) -> None:
    path = tmp_path / "edged.yaml"
    os.mkfifo(path)  # nobody writes: opening it blocks, as on a dead network mount
    result = IsolatedCheck(path, timeout_s=3.0).start().wait()
    assert (
        isinstance(result, ConfigError)
        and str(result) == f"{path}:1: checking it took more than 3 s; refused"
    )
    check = IsolatedCheck(path).start()
    check.cancel()
    result = check.wait(timeout=20.0)
    assert check.done() and isinstance(result, ConfigError) and "the daemon is stopping" in str(result)
