"""``edged eval openset`` and ``edged calibrate threshold`` refuse bad options before any work."""

from __future__ import annotations

import pytest

from edged.cli import main


@pytest.mark.parametrize(
    "extra",
    [["--enrolled", "0.99"], ["--target-fpir", "1.5"]],
)
def test_out_of_range_options_are_refused_with_one_line(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "openset", "--data", "/nonexistent", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edged: --enrolled") and err.count("\n") == 1


@pytest.mark.parametrize("sizes", ["1", "ten", "5,-3", ",".join(["10"] * 9)])
def test_bad_gallery_sizes_are_refused(sizes: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "openset", "--data", "/nonexistent", "--sizes", sizes])
    assert exc.value.code == 2
    assert "--sizes" in capsys.readouterr().err


def test_missing_data_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "openset", "--data", "/nonexistent", "--no-masked"]) == 1
    assert "lfw-deepfunneled" in capsys.readouterr().err


def test_calibrate_without_data_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "threshold", "--data", "/nonexistent"]) == 1
    assert "lfw-deepfunneled" in capsys.readouterr().err
