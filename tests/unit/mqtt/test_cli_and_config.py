from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from edged.cli import main
from edged.events.config import MqttConfig
from edged.events.outbox import Outbox
from edged.mqtt.command_auth import CommandVerifier
from edged.mqtt.homeassistant import discovery_message
from edged.mqtt.topics import Topics


def test_keygen_then_sign_gives_a_command_the_gate_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "alice.pem"
    assert main(["events", "keygen", "--out", str(key), "--key-id", "alice", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert main(["events", "keygen", "--out", str(key)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err

    args = ["events", "sign", "--key", str(key), "--key-id", "alice", "--device", "gate-1", "mode"]
    assert main([*args, "--args", '{"mode": "free"}']) == 0
    message = capsys.readouterr().out.strip().encode()
    verifier = CommandVerifier("gate-1", {"alice": info["public_key"]}, 30, 5, Outbox(tmp_path / "o.db"))
    assert verifier.verify("mode", message).args.model_dump() == {"mode": "free"}

    assert main([*args, "--args", "not json"]) == 1
    assert capsys.readouterr().err.startswith("error: --args is not JSON")


def test_schemas_check_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "schemas", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stale"] == []


def test_config_refuses_half_settings() -> None:
    with pytest.raises(ValidationError, match="client_cert and client_key"):
        MqttConfig.model_validate({"tls": {"enabled": True, "client_cert": "/c.pem"}})
    with pytest.raises(ValidationError, match="password given without username"):
        MqttConfig.model_validate({"password": {"file": "/p"}})
    with pytest.raises(ValidationError):
        MqttConfig.model_validate({"password": "hunter2"})  # secrets never literal in YAML
    with pytest.raises(ValidationError):
        MqttConfig.model_validate({"topic_prefix": "edged/#"})
    with pytest.raises(ValidationError, match="operator key 'alice': an Ed25519 public key has 32 bytes"):
        MqttConfig.model_validate({"commands": {"operator_keys": {"alice": "AAAA"}}})
    with pytest.raises(ValidationError, match="not valid base64"):
        MqttConfig.model_validate({"commands": {"operator_keys": {"alice": "???"}}})


def test_topics_and_discovery_live_under_the_prefix() -> None:
    topics = Topics("edged", "g1")
    assert topics.command_name("edged/g1/cmd/open") == "open"
    assert topics.command_name("edged/g1/cmd/open/result") is None
    assert topics.command_name("edged/g2/cmd/open") is None
    topic, payload = discovery_message("homeassistant", topics)
    assert topic == "homeassistant/device/edged_g1/config"
    body = json.loads(payload)
    assert body["dev"]["ids"] == ["edged_g1"] and body["avty_t"] == "edged/g1/availability"
    assert set(body["cmps"]) == {"gate_state", "last_passage", "alarm", "online"}
    assert all(c["uniq_id"].startswith("edged_g1_") for c in body["cmps"].values())
