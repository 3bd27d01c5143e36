from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from edged.events.outbox import Outbox
from edged.mqtt.command_auth import REFUSALS, CommandVerifier, Refused
from edged.mqtt.command_models import MAX_COMMAND_BYTES, ModeArgs
from edged.mqtt.signing import generate_private_key_pem, load_private_key, public_key_b64, sign_command

NOW = 1_800_000_000.0


@pytest.fixture
def key() -> Any:
    return load_private_key(generate_private_key_pem())


@pytest.fixture
def verifier(tmp_path: Path, key: Any) -> CommandVerifier:
    return CommandVerifier("gate-1", {"alice": public_key_b64(key)}, 30.0, 5.0, Outbox(tmp_path / "o.db"))


def _refusal(verifier: CommandVerifier, name: str, payload: bytes, now: float = NOW) -> str:
    with pytest.raises(Refused) as exc:
        verifier.verify(name, payload, now)
    assert exc.value.reason in REFUSALS
    return exc.value.reason


def test_a_signed_fresh_command_passes_once(verifier: CommandVerifier, key: Any) -> None:
    message = sign_command(key, "alice", "mode", "gate-1", {"mode": "locked"}, now_s=NOW - 3)
    command = verifier.verify("mode", message, NOW)
    assert command.args == ModeArgs(mode="locked") and command.key_id == "alice"
    assert _refusal(verifier, "mode", message, NOW + 1) == "replayed"


def test_each_kind_of_bad_command_has_its_reason(verifier: CommandVerifier, key: Any) -> None:
    other = load_private_key(generate_private_key_pem())
    good = json.loads(sign_command(key, "alice", "open", "gate-1", {}, now_s=NOW))
    tampered_body = good["body"].replace('"args":{}', '"args":{"lane":"vip"}')
    cases = {
        "unsigned": json.dumps({"v": 1, "key_id": "alice", "body": good["body"]}).encode(),
        "bad_signature": json.dumps(good | {"body": tampered_body}).encode(),
        "unknown_key": sign_command(key, "bob", "open", "gate-1", {}, now_s=NOW),
        "expired": sign_command(key, "alice", "open", "gate-1", {}, now_s=NOW - 31),
        "from_future": sign_command(key, "alice", "open", "gate-1", {}, now_s=NOW + 6),
        "wrong_target": sign_command(key, "alice", "open", "gate-2", {}, now_s=NOW),
        "invalid_args": sign_command(key, "alice", "open", "gate-1", {"direction": "up"}, now_s=NOW),
        "schema": b"[1, 2",
        "too_large": b" " * (MAX_COMMAND_BYTES + 1),
    }
    for reason, payload in cases.items():
        assert _refusal(verifier, "open", payload) == reason, reason
    assert _refusal(verifier, "open", sign_command(other, "alice", "open", "gate-1", {}, now_s=NOW)) == (
        "bad_signature"
    )
    # A command signed for one name cannot be replayed on another command topic.
    assert _refusal(verifier, "erase", sign_command(key, "alice", "open", "gate-1", {}, now_s=NOW)) == (
        "wrong_target"
    )


def test_enroll_needs_exactly_one_face_source(verifier: CommandVerifier, key: Any) -> None:
    both = {"person_id": "p", "embedding_b64": "AAAA", "image_b64": "AAAA"}
    assert _refusal(verifier, "enroll", sign_command(key, "alice", "enroll", "gate-1", both, now_s=NOW)) == (
        "invalid_args"
    )
    one = {"person_id": "p", "embedding_b64": "AAAA", "lanes": ["lane-1"]}
    assert verifier.verify("enroll", sign_command(key, "alice", "enroll", "gate-1", one, now_s=NOW), NOW)


def test_replays_are_refused_across_a_restart(tmp_path: Path, key: Any) -> None:
    keys = {"alice": public_key_b64(key)}
    message = sign_command(key, "alice", "ping", "gate-1", {}, now_s=NOW)
    first = Outbox(tmp_path / "o.db")
    CommandVerifier("gate-1", keys, 30.0, 5.0, first).verify("ping", message, NOW)
    first.close()
    second = CommandVerifier("gate-1", keys, 30.0, 5.0, Outbox(tmp_path / "o.db"))
    assert _refusal(second, "ping", message, NOW + 10) == "replayed"


def test_real_clock_is_used_by_default(verifier: CommandVerifier, key: Any) -> None:
    assert verifier.verify("ping", sign_command(key, "alice", "ping", "gate-1", {}), None)
    old = sign_command(key, "alice", "ping", "gate-1", {}, now_s=time.time() - 60)
    assert _refusal(verifier, "ping", old, time.time()) == "expired"
