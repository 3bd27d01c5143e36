from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from edged.events.outbox import Outbox
from edged.mqtt.command_auth import CommandVerifier
from edged.mqtt.command_models import PingArgs
from edged.mqtt.dispatch import (
    INTAKE_MESSAGES,
    REFUSAL_REPLIES_BURST,
    CommandDispatcher,
    CommandFailed,
    Incoming,
    TokenBucket,
)
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
    # Junk is answered by the gatekeeper, signed commands by the worker: only their own order is kept.
    assert [(t, r["ok"], r["reason"], c) for t, r, c in sent if c is not None] == [
        ("edged/gate-1/reply/x", True, None, b"1"),
        ("edged/gate-1/cmd/erase/result", False, "failed", b"2"),
        ("edged/gate-1/cmd/reload/result", False, "internal_error", b"3"),  # reply outside reply/ refused
    ]
    assert [(t, r["reason"]) for t, r, c in sent if c is None] == [
        ("edged/gate-1/cmd/ping/result", "unsigned")
    ]
    by_corr = {c: r for _t, r, c in sent}
    assert by_corr[b"1"]["result"] == {"pong": True} and by_corr[b"2"]["detail"] == "no such person"
    assert dispatcher.counters.handled == 1 and dispatcher.counters.failed == 2
    assert dispatcher.counters.refused == 1


def test_junk_is_answered_only_within_the_reply_budget(tmp_path: Path) -> None:
    key = load_private_key(generate_private_key_pem())
    dispatcher, sent = _dispatcher(tmp_path, key, rate=0.001, burst=3)
    for _ in range(REFUSAL_REPLIES_BURST + 10):
        dispatcher.submit(Incoming("ping", b"junk", None, None))
    dispatcher.start()
    dispatcher.stop()
    assert len(sent) == REFUSAL_REPLIES_BURST and dispatcher.counters.unanswered == 10
    assert dispatcher.counters.refused == REFUSAL_REPLIES_BURST + 10
    assert dispatcher.counters.rate_limited == 0  # junk never takes an operator's token


def test_junk_does_not_spend_the_budget_of_signed_commands(tmp_path: Path) -> None:
    key = load_private_key(generate_private_key_pem())
    dispatcher, sent = _dispatcher(tmp_path, key, rate=0.001, burst=3)
    for i in range(500):
        dispatcher.submit(
            Incoming("mode", b'{"v": 1, "key_id": "k", "sig": "AA==", "body": "{}"}', None, None)
        )
        if i % 100 == 0:
            message = sign_command(key, "k", "ping", "gate-1", {})
            dispatcher.submit(Incoming("ping", message, None, str(i).encode()))
    dispatcher.start()
    dispatcher.stop()
    answers = {c: r["reason"] for _t, r, c in sent if c is not None}
    assert answers == {b"0": None, b"100": None, b"200": None, b"300": "rate_limited", b"400": "rate_limited"}
    assert dispatcher.counters.handled == 3 and dispatcher.counters.rate_limited == 2


class Dying(Handler):
    def __init__(self) -> None:
        super().__init__()
        self.died = False

    def open(self, args: Any) -> dict[str, Any]:
        if not self.died:
            self.died = True
            raise SystemExit("a handler that ends its thread")
        return {"opened": True}


def test_a_dead_worker_is_restarted_reported_and_its_command_answered(tmp_path: Path) -> None:
    key = load_private_key(generate_private_key_pem())
    dispatcher, sent = _dispatcher(tmp_path, key)
    dispatcher.handler = Dying()
    reports: list[str] = []
    dispatcher.on_restart = reports.append
    dispatcher.start()
    dispatcher.submit(Incoming("open", sign_command(key, "k", "open", "gate-1", {}), None, b"1"))
    deadline = time.monotonic() + 10
    while not dispatcher.revive() and time.monotonic() < deadline:
        time.sleep(0.01)
    dispatcher.submit(Incoming("open", sign_command(key, "k", "open", "gate-1", {}), None, b"2"))
    dispatcher.stop()
    assert [(r["reason"], c) for _t, r, c in sent] == [("internal_error", b"1"), (None, b"2")]
    assert dispatcher.counters.worker_restarts == 1 and len(reports) == 1
    assert "mqtt-commands died (SystemExit: a handler that ends its thread)" in reports[0]


def test_token_bucket_allows_burst_then_refuses() -> None:
    bucket = TokenBucket(rate_per_s=0.001, burst=2)
    assert [bucket.take() for _ in range(4)] == [True, True, False, False]


def test_a_qos0_flood_leaves_room_in_the_intake_for_qos1_commands(tmp_path: Path) -> None:
    key = load_private_key(generate_private_key_pem())
    dispatcher, sent = _dispatcher(tmp_path, key)
    for _ in range(INTAKE_MESSAGES):  # the gatekeeper is not started: everything stays queued
        dispatcher.submit(Incoming("mode", b"junk", None, None, qos=0))
    assert dispatcher.counters.queue_full == INTAKE_MESSAGES // 2
    signed = sign_command(key, "k", "ping", "gate-1", {})
    dispatcher.submit(Incoming("ping", signed, None, b"signed", qos=1))
    dispatcher.start()
    dispatcher.stop()
    assert [(r["ok"], c) for _t, r, c in sent if c is not None] == [(True, b"signed")]
