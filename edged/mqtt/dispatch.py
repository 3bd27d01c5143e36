"""Hands verified commands to the daemon, one at a time, off the MQTT network thread.

The MQTT layer knows the daemon only through ``CommandHandler``; it never imports the identity or
gate packages. A bounded queue and a token bucket keep a flood of commands from starving anything."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from edged.events.payloads import utc_now
from edged.mqtt.command_auth import CommandVerifier, Refused
from edged.mqtt.command_models import (
    CommandResponse,
    EnrollArgs,
    EraseArgs,
    ModeArgs,
    OpenArgs,
    PingArgs,
    ReloadArgs,
)

log = logging.getLogger(__name__)


class CommandFailed(Exception):
    """Raised by a handler when a valid command cannot be carried out (the detail is sent back)."""


class InvalidArgs(CommandFailed):
    """Raised by a handler when the arguments are well formed but unusable here (answered invalid_args)."""


class CommandHandler(Protocol):
    def open(self, args: OpenArgs) -> dict[str, Any]: ...
    def mode(self, args: ModeArgs) -> dict[str, Any]: ...
    def enroll(self, args: EnrollArgs) -> dict[str, Any]: ...
    def erase(self, args: EraseArgs) -> dict[str, Any]: ...
    def reload(self, args: ReloadArgs) -> dict[str, Any]: ...
    def ping(self, args: PingArgs) -> dict[str, Any]: ...


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._tokens = float(burst)
        self._last = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


@dataclass(frozen=True)
class Incoming:
    name: str
    payload: bytes
    response_topic: str | None
    correlation: bytes | None


# publish(topic, payload, correlation_data)
Responder = Callable[[str, bytes, "bytes | None"], None]


@dataclass
class DispatchCounters:
    handled: int = 0
    refused: int = 0
    failed: int = 0
    rate_limited: int = 0
    queue_full: int = 0


class CommandDispatcher:
    def __init__(
        self,
        verifier: CommandVerifier,
        handler: CommandHandler,
        respond: Responder,
        default_topic: Callable[[str], str],
        allowed_reply_prefix: str,
        rate_per_s: float,
        burst: int,
        queue_size: int = 64,
    ) -> None:
        self.verifier = verifier
        self.handler = handler
        self.respond = respond
        self.default_topic = default_topic
        self.allowed_reply_prefix = allowed_reply_prefix
        self.bucket = TokenBucket(rate_per_s, burst)
        self.counters = DispatchCounters()
        self._last_refusal_log = float("-inf")
        self._unlogged_refusals = 0
        self._queue: queue.Queue[Incoming | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="mqtt-commands", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout_s)
        self._thread.join(timeout_s)

    def submit(self, item: Incoming) -> None:
        """Called on the MQTT network thread: never blocks."""
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.counters.queue_full += 1

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if not self.bucket.take():
                # No answer: replying to a flood would only amplify it.
                self.counters.rate_limited += 1
                continue
            self._process(item)

    def _reply_topic(self, name: str, requested: str | None) -> str:
        if (
            requested
            and requested.startswith(self.allowed_reply_prefix)
            and "#" not in requested
            and "+" not in requested
        ):
            return requested
        return self.default_topic(name)

    def _send(self, item: Incoming, response: CommandResponse, reply_to: str | None) -> None:
        topic = self._reply_topic(item.name, item.response_topic or reply_to)
        try:
            self.respond(topic, response.model_dump_json().encode(), item.correlation)
        except Exception:  # a reply that cannot be sent must not stop the command loop
            log.exception("could not send the response to %s", item.name)

    def _log_refusal(self, name: str, refusal: Refused) -> None:
        """At most one line a second, so a flood cannot fill the journal."""
        now = time.monotonic()
        if now - self._last_refusal_log < 1.0:
            self._unlogged_refusals += 1
            return
        more = (
            f" (and {self._unlogged_refusals} more refused since the last line)"
            if self._unlogged_refusals
            else ""
        )
        log.warning("command %s refused: %s: %s%s", name, refusal.reason, refusal.detail, more)
        self._last_refusal_log = now
        self._unlogged_refusals = 0

    def _process(self, item: Incoming) -> None:
        try:
            command = self.verifier.verify(item.name, item.payload)
        except Refused as refusal:
            self.counters.refused += 1
            self._log_refusal(item.name, refusal)
            self._send(
                item,
                CommandResponse(
                    cmd=item.name,
                    nonce=refusal.nonce,
                    ok=False,
                    reason=refusal.reason,
                    detail=refusal.detail,
                    ts=utc_now(),
                ),
                refusal.reply_to,
            )
            return
        method = getattr(self.handler, command.name)
        try:
            result = method(command.args)
            response = CommandResponse(
                cmd=command.name, nonce=command.nonce, ok=True, result=result, ts=utc_now()
            )
            self.counters.handled += 1
            log.info("command %s by %s done", command.name, command.key_id)
        except CommandFailed as exc:
            self.counters.failed += 1
            response = CommandResponse(
                cmd=command.name,
                nonce=command.nonce,
                ok=False,
                reason="invalid_args" if isinstance(exc, InvalidArgs) else "failed",
                detail=str(exc),
                ts=utc_now(),
            )
        except Exception:
            self.counters.failed += 1
            log.exception("command %s failed", command.name)
            response = CommandResponse(
                cmd=command.name,
                nonce=command.nonce,
                ok=False,
                reason="internal_error",
                detail="the gate could not carry out the command; see its log",
                ts=utc_now(),
            )
        self._send(item, response, command.reply_to)
