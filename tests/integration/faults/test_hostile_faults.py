"""The ``hostile`` fault group through the suite's runner: image and config bombs against every CLI
command, MQTT ``enroll`` against the real daemon and broker, SIGHUP with a hanging alias-bomb config."""

from __future__ import annotations

from pathlib import Path

from edged.faults import run_all
from edged.faults.hostile_faults import RSS_BOUND_MB


def test_hostile_group_passes(tmp_path: Path, models_dir: Path) -> None:
    report = run_all(tmp_path, only=["hostile"])
    by_name = {r["name"]: r for r in report["results"]}
    assert set(by_name) == {"hostile_images", "hostile_configs", "sighup_bad_config"}
    assert report["failed"] == 0, [r for r in report["results"] if not r["ok"]]

    images = by_name["hostile_images"]["observed"]
    assert len(images["cli"]) == 6  # detect, compare, enroll × the JPEG and PNG bombs
    for run in images["cli"]:
        assert run["rc"] == 1 and run["stderr_lines"] == 1 and not run["traceback"], run
        assert "declares" in run["first_line"] and run["peak_rss_mb"] < RSS_BOUND_MB, run
    mqtt = images["mqtt_enroll"]
    assert [(r["file"], r["ok"]) for r in mqtt["replies"]] == [
        ("bomb.jpg", False), ("bomb.png", False), ("not base64", False)
    ]  # fmt: skip
    assert all("pixels" in r["detail"] for r in mqtt["replies"][:2]) and mqtt["daemon_alive"]
    assert mqtt["replies"][2]["reason"] != "internal_error"
    assert mqtt["daemon_peak_rss_mb_after"] < RSS_BOUND_MB

    for run in by_name["hostile_configs"]["observed"]["runs"]:
        assert run["rc"] == 1 and run["stderr_lines"] == 1 and not run["traceback"], run
        assert run["peak_rss_mb"] < RSS_BOUND_MB, run

    sighup = by_name["sighup_bad_config"]["observed"]
    assert "aliases expand" in sighup["rejected"] and not sighup["gate_fail_state_during_reload"]
    assert sighup["exit_code_after_sigterm"] == 0
