"""Hostile files given to the CLI as a separate process: one line on stderr, exit code 1, no traceback,
peak RSS under the issue's 1 GB (the PNG took 6 GB and the alias bomb over 8 GB before)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edged.faults import hostile_files as hostile
from edged.faults.hostile_faults import RSS_BOUND_MB, run_bounded


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    files: dict[str, str | bytes] = {
        "bomb.png": hostile.png_bomb(),
        "bomb.jpg": hostile.jpeg_bomb(),
        "alias.yaml": hostile.yaml_alias_bomb(),
        "deep.yaml": hostile.yaml_deep(),
        "enroll.yaml": "identity:\n  database: gallery.db\n  template_key: {file: absent.key}\n",
    }
    out = {}
    for name, content in files.items():
        out[name] = folder / name
        if isinstance(content, bytes):
            out[name].write_bytes(content)
        else:
            out[name].write_text(content)
    return out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["detect", "bomb.png"], "bomb.png: PNG header declares 32000×32000 pixels"),
        (["compare", "bomb.jpg", "bomb.png"], "bomb.jpg: JPEG header declares 65000×65000 pixels"),
        (
            [
                "enroll",
                "--config",
                "enroll.yaml",
                "--id",
                "p",
                "--name",
                "P",
                "--consent-source",
                "t",
                "bomb.png",
            ],
            "bomb.png: PNG header declares 32000×32000 pixels",
        ),
        (["check-config", "alias.yaml"], "alias.yaml:6: aliases expand this to more than"),
        (["check-config", "deep.yaml"], "deep.yaml:1: nested more than"),
    ],
)
def test_hostile_file_is_one_line_in_bounded_memory(
    bombs: dict[str, Path], argv: list[str], expected: str
) -> None:
    folder = bombs["bomb.png"].parent
    run = run_bounded([str(folder / a) if a in bombs else a for a in argv], folder)
    assert run["rc"] == 1 and run["stderr_lines"] == 1 and not run["traceback"], run
    assert expected in run["first_line"], run
    assert run["peak_rss_mb"] < RSS_BOUND_MB, run
