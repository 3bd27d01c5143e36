from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from edged.events.outbox import Outbox
from edged.mqtt.command_auth import CommandVerifier
from edged.mqtt.command_models import PingArgs
from edged.mqtt.dispatch import CommandDispatcher, CommandFailed, Incoming, TokenBucket
from edged.mqtt.signing import generate_private_key_pem, load_private_key, public_key_b64, sign_command
from edged.mqtt.topics import Topics


class Handler:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def ping(self, args: PingArgs) -> dict[str, Any]:
        self.calls.append("ping")
        return {"pong": True}

    def erase(self, args: Any) -> dict[str, Any]:
        raise CommandFailed("no such person")

    def reload(self, args: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    open = mode = enroll = ping


def _dispatcher(
    tmp_path: Path, key: Any, rate: float = 100, burst: int = 100
) -> tuple[CommandDispatcher, list]:
    topics = Topics("edged", "gate-1")
    sent: list[tuple[str, dict[str, Any], bytes | None]] = []
    done = threading.Condition()

    def respond(topic: str, payload: bytes, correlation: bytes | None) -> None:
        with done:
            sent.append((topic, json.loads(payload), correlation))
            done.notify_all()

    verifier = CommandVerifier("gate-1", {"k": public_key_b64(key)}, 30, 5, Outbox(tmp_path / "o.db"))
    dispatcher = CommandDispatcher(
        verifier, Handler(), respond, topics.result, topics.reply_branch, rate, burst
    )
    return dispatcher, sent


def test_responses_carry_result_reason_and_correlation(tmp_path: Path) -> None:
    key = load_private_key(generate_private_key_pem())
    dispatcher, sent = _dispatcher(tmp_path, key)
    dispatcher.start()
    dispatcher.submit(
        Incoming("ping", sign_command(key, "k", "ping", "gate-1", {}), "edged/gate-1/reply/x", b"1")
    )
    dispatcher.submit(
        Incoming("erase", sign_command(key, "k", "erase", "gate-1", {"person_id": "p"}), None, b"2")
    )
    dispatcher.submit(Incoming("reload", sign_command(key, "k", "reload", "gate-1", {}), "elsewhere/x", b"3"))
    dispatcher.submit(Incoming("ping", b"{}", None, None))
    dispatcher.stop()
    assert [(t, r["ok"], r["reason"], c) for t, r, c in sent] == [
        ("edged/gate-1/reply/x", True, None, b"1"),
        ("edged/gate-1/cmd/erase/result", False, "failed", b"2"),
        ("edged/gate-1/cmd/reload/result", False, "internal_error", b"3"),  # reply outside reply/ refused
        ("edged/gate-1/cmd/ping/result", False, "unsigned", None),
    ]
    assert sent[0][1]["result"] == {"pong": True} and sent[1][1]["detail"] == "no such person"
    assert dispatcher.counters.handled == 1 and dispatcher.counters.failed == 2
    assert dispatcher.counters.refused == 1


def test_over_the_rate_commands_are_dropped_unanswered(tmp_path: Path) -> None:
    key = load_private_key(generate_private_key_pem())
    dispatcher, sent = _dispatcher(tmp_path, key, rate=0.001, burst=3)
    for _ in range(10):
        dispatcher.submit(Incoming("ping", b"junk", None, None))
    dispatcher.start()
    dispatcher.stop()
    assert len(sent) == 3 and dispatcher.counters.rate_limited == 7


def test_token_bucket_allows_burst_then_refuses() -> None:
    bucket = TokenBucket(rate_per_s=0.001, burst=2)
    assert [bucket.take() for _ in range(4)] == [True, True, False, False]
