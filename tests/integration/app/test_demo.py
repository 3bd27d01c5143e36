"""``edged demo`` end to end, as a new user runs it after ``scripts/setup``: it must exit 0 with the
outcome the generated clip was made to show (the enrolled person granted, the stranger denied as
unknown, the same person with a fever denied)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from edged.app_demo import SAMPLES, samples_dir
from tests.conftest import REPO, need


def test_demo_runs_end_to_end(tmp_path: Path, models_dir: Path) -> None:
    have = all((samples_dir() / s.name).is_file() for s in SAMPLES)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if not have:
        prep = subprocess.run(
            [sys.executable, "-m", "edged", "demo", "--prepare"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        need(prep.returncode == 0, f"the demo's sample faces (edged demo --prepare): {prep.stderr.strip()}")
    proc = subprocess.run(
        [sys.executable, "-m", "edged", "demo", "--json", "--workdir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["ok"] is True
    decisions = [(p["person_id"], p["decision"], p["reasons"]) for p in summary["passages"]]
    assert ("demo-astronaut", "grant", []) in decisions
    assert any(pid is None and d == "deny" and "unknown" in r for pid, d, r in decisions)
    assert any(pid == "demo-astronaut" and d == "deny" and "fever" in r for pid, d, r in decisions)
    assert summary["frames"] == 200
    assert summary["mqtt"]["enabled"] and summary["mqtt"]["outbox_pending"] == 0
