"""How `edged eval lfw` prints TAR at FAR with its interval."""

from __future__ import annotations

from edged.vision.commands import _tar_text


def test_tar_is_printed_with_its_interval_in_per_cent() -> None:
    result = {"tar_at_far": {"0.001": 0.6943}, "tar_at_far_interval": {"0.001": [0.6251, 0.7512]}}
    assert _tar_text(result, "0.001") == "69.4 % (62.5–75.1)"
