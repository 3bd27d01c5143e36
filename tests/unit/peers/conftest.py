"""The peers' model files (``scripts/fetch-peers``): skip outside CI when missing, fail in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from edged.peers.files import default_peers_dir, missing_peer_files
from tests.conftest import need


@pytest.fixture(scope="session")
def peers_dir() -> Path:
    path = default_peers_dir()
    missing = missing_peer_files(path)
    need(not missing, f"peer model files (run scripts/fetch-peers): {'; '.join(missing)}")
    return path
