from __future__ import annotations

import base64
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
    one = {"person_id": "p", "embedding_b64": "AACAPw==", "lanes": ["lane-1"]}  # one float32: 1.0
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


def _signed_body(key: Any, body_text: str) -> bytes:
    sig = base64.b64encode(key.sign(body_text.encode())).decode()
    return json.dumps({"v": 1, "key_id": "alice", "sig": sig, "body": body_text}).encode()


def test_hostile_messages_are_refused_never_raised(verifier: CommandVerifier, key: Any) -> None:
    """Whatever a message holds, the verifier answers with a refusal; nothing else escapes."""
    nonce = "ab" * 16
    deep = "[" * 100_000 + "]" * 100_000
    huge_ts = f'{{"cmd":"open","device_id":"gate-1","ts_ms":1{"0" * 400},"nonce":"{nonce}","args":{{}}}}'
    deep_args = f'{{"cmd":"open","device_id":"gate-1","ts_ms":{int(NOW * 1000)},"nonce":"{nonce}",'
    deep_args += '"args":{"lane":' + "[" * 50_000 + "]" * 50_000 + "}}"
    cases = {
        "deep array": deep.encode(),
        "deep object": ('{"a":' * 50_000 + "1" + "}" * 50_000).encode(),
        "deep outer field": b'{"v": 1, "key_id": "alice", "sig": "AA==", "body": ' + deep.encode() + b"}",
        "huge ts_ms": _signed_body(key, huge_ts),
        "deep args": _signed_body(key, deep_args),
        "lone surrogate body": b'{"v": 1, "key_id": "alice", "sig": "AA==", "body": "\\ud800\\ud800"}',
        "huge number": b'{"v": 1' + b"0" * 5000 + b', "key_id": "alice", "sig": "AA==", "body": "{}"}',
        "not utf-8": b'{"v": 1, "key_id": "\xff\xfe", "sig": "AA==", "body": "{}"}',
        "list": b"[]",
        "null": b"null",
        "empty": b"",
    }
    for what, payload in cases.items():
        assert _refusal(verifier, "open", payload) in ("schema", "unsigned", "bad_signature"), what
    assert _refusal(verifier, "../x", b"{}") == "schema"


@pytest.mark.parametrize(
    "embedding",
    ["not base64!", "AAAA" + "=" * 3, base64.b64encode(bytes(2048)).decode(), "AADAfw=="],
    ids=["malformed", "bad padding", "all zeros", "nan"],
)
def test_enroll_with_an_unusable_embedding_is_invalid_args(
    verifier: CommandVerifier, key: Any, embedding: str
) -> None:
    args = {"person_id": "p", "embedding_b64": embedding}
    message = sign_command(key, "alice", "enroll", "gate-1", args, now_s=NOW)
    assert _refusal(verifier, "enroll", message) == "invalid_args"


def test_enroll_with_a_malformed_image_is_invalid_args(verifier: CommandVerifier, key: Any) -> None:
    args = {"person_id": "p", "image_b64": "/9j/4AAQ*not base64*"}
    message = sign_command(key, "alice", "enroll", "gate-1", args, now_s=NOW)
    assert _refusal(verifier, "enroll", message) == "invalid_args"


def test_a_replay_is_refused_before_it_costs_a_token(verifier: CommandVerifier, key: Any) -> None:
    message = sign_command(key, "alice", "ping", "gate-1", {}, now_s=NOW)
    verifier.verify("ping", message, NOW)
    with pytest.raises(Refused) as exc:
        verifier.authenticate("ping", message, NOW + 1)  # the cheap stage already knows the nonce
    assert exc.value.reason == "replayed"
