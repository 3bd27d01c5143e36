"""Shared fixtures: the evaluation data beside the repo and the installed model set.

Outside CI a test that needs either skips and says what is missing; in CI (``CI=true``) it fails,
so a CI run can never pass by skipping the tests that matter.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EDGED_SHARED_DATA", REPO.parent / "shared" / "data"))


def need(condition: bool, what: str) -> None:
    """Skip (or, in CI, fail) when a prerequisite is missing."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"missing in CI: {what}")
    pytest.skip(f"missing: {what}")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    need(SHARED_DATA.is_dir(), f"evaluation data at {SHARED_DATA} (set EDGED_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def models_dir() -> Path:
    from edged.models import default_models_dir, verify_installed

    path = Path(os.environ.get("EDGED_MODELS_DIR", default_models_dir()))
    problems = verify_installed(path)
    need(not problems, f"models in {path} (run scripts/fetch-models): {'; '.join(problems)}")
    return path


LAB_TESTS = os.environ.get("EDGED_LAB_TESTS") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``lab`` tests (a full evaluation whose reduced variant with the same assertions runs in CI) are
    skipped, with the way to run them, unless ``EDGED_LAB_TESTS=1``."""
    if LAB_TESTS:
        return
    skip = pytest.mark.skip(
        reason="lab test: full evaluation, run with EDGED_LAB_TESTS=1 (CI runs its reduced twin)"
    )
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)
