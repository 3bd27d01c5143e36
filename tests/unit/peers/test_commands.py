from __future__ import annotations

import json
from pathlib import Path

import pytest

from edged.cli import main


def test_missing_data_is_one_line_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["bench", "peers", "--json", "--data", str(tmp_path / "nowhere"), "--models-dir", str(tmp_path)]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("edged bench peers:") and "missing" in err
    assert "Traceback" not in err


def test_render_prints_the_table_of_a_saved_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = {
        "edged": {
            "lfw_accuracy": 0.99,
            "lfw_tar_at_far_1e-3": 0.97,
            "lfw_faces_missed": 0,
            "lfw_images": 10,
            "ms_per_image": 20.0,
        },
        "face_recognition": {"lfw_accuracy": 0.98, "ms_per_image": 200.0},
        "ratios": {"face_recognition": {"ms_per_image": 0.1}},
        "run": {},
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    assert main(["bench", "peers", "--render", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| edged | 99.00 % | 97.00 % | 0 / 10 |" in out
    assert "| face_recognition | 98.00 % |" in out and "| 0.100 |" in out
    path.write_text("{not json")
    assert main(["bench", "peers", "--render", str(path)]) == 2


def test_write_table_replaces_the_marked_block_in_every_file_or_in_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edged.peers.commands import TABLE_END, TABLE_START

    report = {
        "edged": {"lfw_accuracy": 0.99, "ms_per_image": 20.0},
        "face_recognition": {"lfw_accuracy": 0.98, "ms_per_image": 200.0},
        "ratios": {"face_recognition": {"ms_per_image": 0.1}},
        "run": {},
    }
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(report))
    readme, doc, bare = tmp_path / "README.md", tmp_path / "peers.md", tmp_path / "bare.md"
    readme.write_text(f"# intro\n\n{TABLE_START}\n| old table |\n{TABLE_END}\n\nafter\n")
    doc.write_text(f"{TABLE_START}{TABLE_END}")
    bare.write_text("no markers here\n")

    argv = ["bench", "peers", "--render", str(saved), "--write-table", str(readme)]
    assert main([*argv, "--write-table", str(bare)]) == 2
    assert "no <!-- edged bench peers: table -->" in capsys.readouterr().err
    assert "| old table |" in readme.read_text()  # nothing written when one file is unusable

    assert main([*argv, "--write-table", str(doc)]) == 0
    for path in (readme, doc):
        text = path.read_text()
        assert "| edged | 99.00 % |" in text and "| old table |" not in text
        assert text.count(TABLE_START) == 1 and text.count(TABLE_END) == 1
    assert readme.read_text().startswith("# intro\n\n") and readme.read_text().endswith("\n\nafter\n")


def test_a_table_file_without_markers_stops_the_run_before_it_starts(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = tmp_path / "bare.md"
    bare.write_text("no markers here\n")
    argv = ["bench", "peers", "--json", "--data", str(shared_data), "--write-table", str(bare)]
    assert main([*argv, "--models-dir", str(tmp_path / "no-models")]) == 2
    err = capsys.readouterr().err
    assert "bare.md: no <!-- edged bench peers: table -->" in err  # not the missing models: checked first
    assert bare.read_text() == "no markers here\n"
