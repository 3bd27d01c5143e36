"""Hands verified commands to the daemon, one at a time, off the MQTT network thread.

Two stages, each on its own thread. The gatekeeper takes every message from a bounded intake and runs
the cheap checks (size, shape, key, one Ed25519 verification); junk is refused there, and answered only
within a small reply budget so that answering cannot amplify a flood. Only a command with a good operator
signature spends a token of the operators' budget (``rate_per_s``/``burst``) and reaches the worker,
which records its nonce and runs the handler. A flood of unsigned messages therefore never takes a token
or a worker slot from a signed command.

Nothing a message contains can stop either thread (every exception is caught per message), and a thread
that dies anyway is restarted by ``revive()``, counted and reported through ``on_restart``.

The MQTT layer knows the daemon only through ``CommandHandler``; it never imports the identity or
gate packages."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from edged.events.payloads import utc_now
from edged.mqtt.command_auth import Authenticated, CommandVerifier, Refused
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

# Refusals answered per second (and at once) before the rest are only counted: enough for an operator
# debugging a key, too few to turn a flood into a flood of responses.
REFUSAL_REPLIES_PER_S = 5.0
REFUSAL_REPLIES_BURST = 20
INTAKE_MESSAGES = 4096
INTAKE_BYTES = 16 * 1024 * 1024
WORKER_QUEUE = 64


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
    qos: int = 1


# publish(topic, payload, correlation_data)
Responder = Callable[[str, bytes, "bytes | None"], None]


@dataclass
class DispatchCounters:
    received: int = 0
    refused: int = 0  # every refusal, answered or not
    unanswered: int = 0  # refusals over the reply budget: counted, not answered
    handled: int = 0
    failed: int = 0
    rate_limited: int = 0  # signed commands over the operators' budget (answered)
    queue_full: int = 0  # messages the intake had no room for (the gate could not keep up)
    busy: int = 0  # signed commands the worker had no room for (answered)
    worker_restarts: int = 0


class _Intake:
    """A FIFO bounded by message count and by bytes; ``put`` never blocks. QoS 0 messages may fill only
    half of it: operators send commands with QoS 1, so a QoS 0 flood that outruns the gatekeeper still
    leaves room for them."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: deque[Incoming | None] = deque()
        self._bytes = 0
        self._cond = threading.Condition()

    def put(self, item: Incoming) -> bool:
        with self._cond:
            size = len(item.payload)
            share = 1 if item.qos > 0 else 2
            if len(self._items) >= self.max_items // share or self._bytes + size > self.max_bytes // share:
                return False
            self._items.append(item)
            self._bytes += size
            self._cond.notify()
            return True

    def close(self) -> None:
        """The reader drains what is queued, then gets ``None``."""
        with self._cond:
            self._items.append(None)
            self._cond.notify()

    def get(self) -> Incoming | None:
        with self._cond:
            while not self._items:
                self._cond.wait()
            item = self._items.popleft()
            if item is not None:
                self._bytes -= len(item.payload)
            return item


class _Stage:
    """One thread of the dispatcher and the message it is working on (answered if the thread dies)."""

    def __init__(self, name: str, loop: Callable[[_Stage], None]) -> None:
        self.name = name
        self.loop = loop
        self.current: Incoming | None = None
        self.death: str | None = None
        self.thread = self._new_thread()

    def _new_thread(self) -> threading.Thread:
        return threading.Thread(target=self._guarded, name=self.name, daemon=True)

    def _guarded(self) -> None:
        try:
            self.loop(self)
        except BaseException as exc:  # noqa: BLE001 - recorded, reported and restarted by revive()
            self.death = f"{type(exc).__name__}: {exc}"[:300]
            log.critical("command thread %s died: %s", self.name, self.death, exc_info=True)

    def restart(self) -> None:
        self.current = None
        self.death = None
        self.thread = self._new_thread()
        self.thread.start()


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
        queue_size: int = WORKER_QUEUE,
        on_restart: Callable[[str], None] | None = None,
    ) -> None:
        self.verifier = verifier
        self.handler = handler
        self.respond = respond
        self.default_topic = default_topic
        self.allowed_reply_prefix = allowed_reply_prefix
        self.on_restart = on_restart
        self.bucket = TokenBucket(rate_per_s, burst)
        self.reply_bucket = TokenBucket(REFUSAL_REPLIES_PER_S, REFUSAL_REPLIES_BURST)
        # Refusals of messages with a good signature (expired, replayed, wrong target): junk cannot spend
        # these, and a replayed capture gets no more answers than operators may send commands.
        self.signed_reply_bucket = TokenBucket(rate_per_s, burst)
        self.counters = DispatchCounters()
        self._log_lock = threading.Lock()
        self._last_refusal_log = float("-inf")
        self._unlogged_refusals = 0
        self._intake = _Intake(INTAKE_MESSAGES, INTAKE_BYTES)
        self._queue: queue.Queue[tuple[Incoming, Authenticated] | None] = queue.Queue(maxsize=queue_size)
        self._gate = _Stage("mqtt-cmd-gate", self._gatekeeper)
        self._worker = _Stage("mqtt-commands", self._work)
        self._started = False
        self._stopping = False

    def start(self) -> None:
        self._started = True
        self._gate.thread.start()
        self._worker.thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Answer what is queued, then end both threads."""
        self._stopping = True
        self._intake.close()
        self._gate.thread.join(timeout_s)
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout_s)
        self._worker.thread.join(timeout_s)

    def submit(self, item: Incoming) -> None:
        """Called on the MQTT network thread: never blocks."""
        self.counters.received += 1
        if not self._intake.put(item):
            self.counters.queue_full += 1

    def revive(self) -> list[str]:
        """Restart a thread that died; answer the message it held; report each restart. Call it often
        from one other thread (the MQTT link's publisher loop does)."""
        if not self._started or self._stopping:
            return []
        reports = []
        for stage in (self._gate, self._worker):
            if stage.thread.is_alive():
                continue
            lost, death = stage.current, stage.death or "ended"
            stage.restart()
            self.counters.worker_restarts += 1
            report = f"{stage.name} died ({death}); restarted ({self.counters.worker_restarts} so far)"
            log.error("%s", report)
            if lost is not None:
                self.counters.failed += 1
                self._send(lost, _answer(lost.name, None, "internal_error", "the command thread died"), None)
            if self.on_restart is not None:
                try:
                    self.on_restart(report)
                except Exception:
                    log.exception("the restart of %s could not be reported", stage.name)
            reports.append(report)
        return reports

    # --- gatekeeper: cheap checks, then the operators' budget -------------------------------------

    def _gatekeeper(self, stage: _Stage) -> None:
        while True:
            item = self._intake.get()
            if item is None:
                return
            stage.current = item
            try:
                self._screen(item)
            except Exception as exc:  # a message must never stop the gatekeeper
                self._refuse(item, Refused("schema", f"unreadable message ({type(exc).__name__})"))
                log.debug("screening %s failed", item.name, exc_info=True)
            stage.current = None

    def _screen(self, item: Incoming) -> None:
        try:
            auth = self.verifier.authenticate(item.name, item.payload)
        except Refused as refusal:
            self._refuse(item, refusal)
            return
        body = auth.body
        if not self.bucket.take():
            self.counters.rate_limited += 1
            detail = f"over {self.bucket.rate:g} signed commands a second; send it again later"
            self._refuse(item, Refused("rate_limited", detail, body.nonce, body.reply_to), answer=True)
            return
        try:
            self._queue.put_nowait((item, auth))
        except queue.Full:
            self.counters.busy += 1
            detail = "the gate is still working on earlier commands; send it again later"
            self._refuse(item, Refused("busy", detail, body.nonce, body.reply_to), answer=True)

    # --- worker: nonce, arguments, the handler ---------------------------------------------------

    def _work(self, stage: _Stage) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            item, auth = entry
            stage.current = item
            try:
                self._process(item, auth)
            except Exception:  # a command must never stop the worker
                self.counters.failed += 1
                log.exception("command %s could not be processed", item.name)
                self._send(item, _answer(item.name, auth.body.nonce, "internal_error", _SEE_LOG), None)
            stage.current = None

    def _process(self, item: Incoming, auth: Authenticated) -> None:
        try:
            command = self.verifier.admit(auth)
        except Refused as refusal:
            self._refuse(item, refusal, answer=True)
            return
        method = getattr(self.handler, command.name)
        try:
            result = method(command.args)
            response = CommandResponse(
                cmd=command.name, nonce=command.nonce, ok=True, result=result, ts=utc_now()
            )
            self.counters.handled += 1
            log.info("command %s by %s done", command.name, command.key_id)
        except InvalidArgs as exc:
            self.counters.failed += 1
            response = _answer(command.name, command.nonce, "invalid_args", str(exc))
        except CommandFailed as exc:
            self.counters.failed += 1
            response = _answer(command.name, command.nonce, "failed", str(exc))
        except Exception:
            self.counters.failed += 1
            log.exception("command %s failed", command.name)
            response = _answer(command.name, command.nonce, "internal_error", _SEE_LOG)
        self._send(item, response, command.reply_to)

    # --- answers ---------------------------------------------------------------------------------

    def _refuse(self, item: Incoming, refusal: Refused, answer: bool = False) -> None:
        """Count and log a refusal; answer it when asked to, or when its reply budget allows."""
        self.counters.refused += 1
        self._log_refusal(item.name, refusal)
        signed = refusal.nonce is not None  # only set once the signature has been checked
        bucket = self.signed_reply_bucket if signed else self.reply_bucket
        if not answer and not bucket.take():
            self.counters.unanswered += 1
            return
        response = _answer(item.name, refusal.nonce, refusal.reason, refusal.detail)
        self._send(item, response, refusal.reply_to)

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
        try:
            topic = self._reply_topic(item.name, item.response_topic or reply_to)
            self.respond(topic, response.model_dump_json().encode(), item.correlation)
        except Exception:  # a reply that cannot be sent must not stop the command loop
            log.exception("could not send the response to %s", item.name)

    def _log_refusal(self, name: str, refusal: Refused) -> None:
        """At most one line a second, so a flood cannot fill the journal."""
        now = time.monotonic()
        with self._log_lock:
            if now - self._last_refusal_log < 1.0:
                self._unlogged_refusals += 1
                return
            more = (
                f" (and {self._unlogged_refusals} more refused since the last line)"
                if self._unlogged_refusals
                else ""
            )
            self._last_refusal_log = now
            self._unlogged_refusals = 0
        log.warning("command %s refused: %s: %s%s", name, refusal.reason, refusal.detail, more)


_SEE_LOG = "the gate could not carry out the command; see its log"


def _answer(cmd: str, nonce: str | None, reason: str, detail: str) -> CommandResponse:
    return CommandResponse(cmd=cmd, nonce=nonce, ok=False, reason=reason, detail=detail, ts=utc_now())
