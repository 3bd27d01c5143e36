"""``edged bench events`` runs end to end (its figures are reported, never asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edged.cli import main
from edged.mqtt.localbroker import MOSQUITTO
from tests.conftest import need


def test_bench_events_reports_delivery_of_every_event(capsys: pytest.CaptureFixture[str]) -> None:
    need(Path(MOSQUITTO).exists(), f"mosquitto at {MOSQUITTO}")
    assert main(["bench", "events", "--events", "50", "--synchronous", "normal", "--flood", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["events"] == 50 and result["end_to_end_per_s"] > 0
    assert result["flood"] is True and result["flood_commands_per_s"] > 0


def test_bench_events_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "events", "--events", "0"]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_bench_commands_flood_answers_every_signed_command(capsys: pytest.CaptureFixture[str]) -> None:
    need(Path(MOSQUITTO).exists(), f"mosquitto at {MOSQUITTO}")
    args = ["bench", "commands-flood", "--rate", "500", "--seconds", "2", "--every", "0.25", "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["junk_sent"] > 0 and result["gate_refused"] > 0
    assert result["signed_sent"] >= 4 and result["signed_ok"] == result["signed_sent"]
    assert result["events_delivered"] == result["events_emitted"] > 0


def test_bench_commands_flood_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "commands-flood", "--rate", "60000"]) == 1
    assert main(["bench", "commands-flood", "--seconds", "600"]) == 1
    assert "error: " in capsys.readouterr().err
