"""Hostile config files: each is refused with one ``FILE:LINE: message``, within bounded memory."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from edged.config import ConfigError
from edged.config.loader import MAX_CONFIG_BYTES, MAX_DEPTH, MAX_NODES, read_config_text
from edged.config.schema import EdgedConfig, load_config
from edged.faults import hostile_files as hostile


def refused(tmp_path: Path, content: str | bytes) -> str:
    path = tmp_path / "edged.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.problems) == 1
    return str(info.value)


def test_billion_laughs_is_refused_at_the_line_that_explodes(tmp_path: Path) -> None:
    text = hostile.yaml_alias_bomb()
    assert len(text) < 500
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    message = refused(tmp_path, text)
    # line 6 (l5, 211,111 values once expanded) is the first past the bound
    expected = f"aliases expand this to more than {MAX_NODES} values; refused (an alias bomb?)"
    assert message == f"{tmp_path / 'edged.yaml'}:6: {expected}"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KB: no expansion


def test_aliases_within_the_bound_still_work(tmp_path: Path) -> None:
    path = tmp_path / "edged.yaml"
    path.write_text("x-mode: &m free\npolicy:\n  mode: *m\n")
    with pytest.raises(ConfigError, match="unknown key 'x-mode'"):
        load_config(path)  # the alias was read; only the extra key is refused
    path.write_text("lane: &l lane-9\ndevice_id: *l\n")
    assert load_config(path).device_id == "lane-9"


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, "policy:\n  list: &a [1, *a]\n").endswith(
        ":2: an alias refers to the node that contains it"
    )


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_deep_nesting_is_refused(tmp_path: Path, depth: int) -> None:
    assert refused(tmp_path, hostile.yaml_deep(depth)).endswith(
        f":1: nested more than {MAX_DEPTH} levels deep"
    )


def test_deep_block_nesting_names_its_line(tmp_path: Path) -> None:
    text = "policy:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 80)) + "  " * 80 + "x: 1\n"
    assert refused(tmp_path, text).endswith(f":{MAX_DEPTH}: nested more than {MAX_DEPTH} levels deep")


def test_complex_key_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, hostile.yaml_complex_key()).endswith(
        ":2: a key must be a plain value, not a list or mapping"
    )


def test_huge_integer_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, hostile.yaml_huge_int()).endswith(":2: a number of 5000 characters (at most 64)")


def test_impossible_date_is_refused_with_its_line(tmp_path: Path) -> None:
    assert refused(tmp_path, "lane: a\npolicy:\n  mode: 2024-13-45\n").endswith(
        ":3: cannot read the value: month must be in 1..12"
    )


def test_oversize_file_is_refused_unread(tmp_path: Path) -> None:
    data = hostile.yaml_oversize(50)
    assert len(data) > 50_000_000
    message = refused(tmp_path, data)
    line = data.count(b"\n", 0, MAX_CONFIG_BYTES) + 1
    expected = f"the file goes on past {MAX_CONFIG_BYTES} bytes, more than a config"
    assert message == f"{tmp_path / 'edged.yaml'}:{line}: {expected}"


def test_file_at_the_size_bound_is_read(tmp_path: Path) -> None:
    path = tmp_path / "edged.yaml"
    head = b"lane: lane-2\n"
    path.write_bytes(head + b"#" * (MAX_CONFIG_BYTES - len(head) - 1) + b"\n")
    assert len(read_config_text(path)) == MAX_CONFIG_BYTES
    assert load_config(path) == EdgedConfig(lane="lane-2")


def test_check_config_prints_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edged.cli import main

    path = tmp_path / "edged.yaml"
    path.write_text(hostile.yaml_alias_bomb())
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{path}:6: ")
