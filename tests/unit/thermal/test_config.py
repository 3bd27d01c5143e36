from __future__ import annotations

import pytest

from edged.capture.radiometric_config import FlirRjpegSourceConfig, Y16UvcSourceConfig
from edged.config import ConfigError, validate_text
from edged.config.schema import EdgedConfig
from edged.thermal.config import ThermalConfig

GOOD = """
enabled: true
source: {type: y16_uvc, device: /dev/video1, tlinear: decikelvin}
registration:
  homography: [[0.25, 0, 0], [0, 0.25, 0], [0, 0, 1]]
  rgb_size: [640, 480]
  thermal_size: [160, 120]
reference: {x: 150, y: 4, width: 8, height: 8, set_temperature_c: 36.5}
fever: {mode: relative, relative_window: 12}
"""


def test_a_full_section_loads() -> None:
    cfg = validate_text(ThermalConfig, GOOD, "t.yaml")
    assert isinstance(cfg.source, Y16UvcSourceConfig) and cfg.source.kelvin_per_count == 0.1
    assert cfg.reference is not None and cfg.reference.set_temperature_c == 36.5
    assert cfg.fever.mode == "relative" and cfg.core.site_offsets_c["inner_canthus"] == 1.22
    assert EdgedConfig().thermal.enabled is False


def test_source_kinds_are_chosen_by_type() -> None:
    cfg = validate_text(ThermalConfig, "source: {type: flir_rjpeg, path: /x, emissivity: 0.98}")
    assert isinstance(cfg.source, FlirRjpegSourceConfig) and cfg.source.emissivity == 0.98


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (GOOD.replace("tlinear: decikelvin", "tlinear: millikelvin"), "t.yaml:3"),
        (GOOD + "blackbody: 37\n", "unknown key 'blackbody'"),
        (GOOD.replace("x: 150", "x: 155"), "outside the 160x120"),
        (
            GOOD.replace("source: {type: y16_uvc, device: /dev/video1, tlinear: decikelvin}", ""),
            "no thermal source",
        ),
        (GOOD.replace("relative_window: 12", "relative_window: 2"), "relative_window"),
    ],
)
def test_bad_sections_are_refused_with_a_place(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_text(ThermalConfig, text, "t.yaml")
    assert words in str(err.value)
