"""The events-and-storage fault scenarios (``edged bench faults --only outbox``) against the real daemon
and a real mosquitto: a full and a read-only state directory (real tmpfs mounts, so root is needed), the
outbox overflowing with the broker away, an erase reaching every store, an empty gallery file and a
camera that never starts. Each scenario decides from what it observed; this test asserts they all pass
and shows what each saw when one does not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edged.faults import run_all
from edged.mqtt.localbroker import MOSQUITTO
from tests.conftest import need


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_outbox_fault_scenarios_pass(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need(Path(MOSQUITTO).exists(), f"mosquitto at {MOSQUITTO} (scripts/setup installs it)")
    need(os.geteuid() == 0, "root, to mount the small and the read-only tmpfs")
    monkeypatch.setenv("EDGED_MODELS_DIR", str(models_dir))
    report = run_all(tmp_path, only=["outbox"])
    names = {r["name"] for r in report["results"]}
    assert names == {
        "disk_full",
        "state_readonly",
        "overflow_alarm",
        "erase_reaches_stores",
        "empty_gallery_file",
        "camera_never_starts",
    }
    failed = {r["name"]: r["observed"] for r in report["results"] if not r["ok"]}
    assert not failed, failed
