"""Checks a command before anything acts on it: size, schema, operator signature, target, age,
replay and arguments. Every refusal has a reason a back office can act on."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError

from edged.events.outbox import Outbox
from edged.mqtt.command_models import (
    ARG_MODELS,
    MAX_COMMAND_BYTES,
    CommandBody,
    SignedCommand,
    Strict,
)
from edged.mqtt.signing import load_public_key, verify

M = TypeVar("M", bound=Strict)
MAX_REMEMBERED_NONCES = 4096

# Reasons a command is refused, as they appear in the response's ``reason``.
REFUSALS = (
    "too_large",
    "schema",
    "unsigned",
    "unknown_key",
    "bad_signature",
    "wrong_target",
    "expired",
    "from_future",
    "replayed",
    "invalid_args",
    "rate_limited",
    "busy",
)


class Refused(Exception):
    def __init__(
        self, reason: str, detail: str, nonce: str | None = None, reply_to: str | None = None
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.nonce = nonce
        self.reply_to = reply_to


@dataclass(frozen=True)
class VerifiedCommand:
    name: str
    key_id: str
    nonce: str
    args: Strict
    reply_to: str | None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "message"
    return f"{where}: {err['msg']}"


@dataclass(frozen=True)
class Authenticated:
    """A command whose operator signature, target and age are good: worth a token of the budget."""

    key_id: str
    body: CommandBody


class CommandVerifier:
    """Cheap checks first: size and shape, then the key, then one Ed25519 verification; only a signed
    command reaches the parts that cost more (the durable nonce table, the handler)."""

    def __init__(
        self,
        device_id: str,
        operator_keys: dict[str, str],
        max_age_s: float,
        max_clock_skew_s: float,
        nonces: Outbox,
    ) -> None:
        self.device_id = device_id
        self.keys = {key_id: load_public_key(b64) for key_id, b64 in operator_keys.items()}
        self.max_age_s = max_age_s
        self.max_clock_skew_s = max_clock_skew_s
        self.nonces = nonces
        # Nonces already used, with their expiry: a replayed capture is refused before it costs a
        # database write or a token. The durable table stays the authority (restarts, races).
        self._used: dict[str, float] = {}
        self._used_lock = threading.Lock()

    def verify(self, topic_name: str, payload: bytes, now_s: float | None = None) -> VerifiedCommand:
        """Every check in one call (``authenticate`` then ``admit``)."""
        now = time.time() if now_s is None else now_s
        return self.admit(self.authenticate(topic_name, payload, now), now)

    def authenticate(self, topic_name: str, payload: bytes, now_s: float | None = None) -> Authenticated:
        """Size, shape, key, signature, target, age and a remembered replay. Raises ``Refused`` for
        anything a message can contain; never anything else."""
        now = time.time() if now_s is None else now_s
        if len(payload) > MAX_COMMAND_BYTES:
            raise Refused("too_large", f"{len(payload)} bytes, at most {MAX_COMMAND_BYTES}")
        if topic_name not in ARG_MODELS:
            raise Refused("schema", f"unknown command {topic_name[:64]!r}")
        if payload.lstrip()[:1] != b"{":
            raise Refused("schema", "not a JSON object")
        try:
            outer_raw = json.loads(payload)
        except RecursionError:
            raise Refused("schema", "nested too deep") from None
        except (ValueError, UnicodeDecodeError):
            raise Refused("schema", "not JSON") from None
        if isinstance(outer_raw, dict) and "sig" not in outer_raw:
            raise Refused("unsigned", "the command has no signature")
        outer = _parse(SignedCommand, outer_raw, "schema")
        key = self.keys.get(outer.key_id)
        if key is None:
            raise Refused("unknown_key", f"no operator key {outer.key_id!r} in the config")
        try:
            signed = outer.body.encode()
        except UnicodeEncodeError:
            raise Refused("schema", "body is not valid UTF-8 text") from None
        if not verify(key, outer.sig, signed):
            raise Refused("bad_signature", f"signature does not match key {outer.key_id!r}")
        body = _parse_json(CommandBody, outer.body)
        if body.cmd != topic_name or body.device_id != self.device_id:
            raise Refused(
                "wrong_target",
                f"signed for {body.device_id}/{body.cmd}, received on {self.device_id}/{topic_name}",
                body.nonce,
                body.reply_to,
            )
        age = now - body.ts_ms / 1000
        if age > self.max_age_s:
            raise Refused(
                "expired", f"signed {age:.1f} s ago, limit {self.max_age_s:g} s", body.nonce, body.reply_to
            )
        if age < -self.max_clock_skew_s:
            raise Refused("from_future", f"signed {-age:.1f} s in the future", body.nonce, body.reply_to)
        if self._seen(f"{outer.key_id}:{body.nonce}", now):
            raise Refused("replayed", f"nonce {body.nonce} was already used", body.nonce, body.reply_to)
        return Authenticated(outer.key_id, body)

    def admit(self, auth: Authenticated, now_s: float | None = None) -> VerifiedCommand:
        """Arguments, then the durable nonce record (written only for a command that will run)."""
        now = time.time() if now_s is None else now_s
        body = auth.body
        args_model = ARG_MODELS.get(body.cmd)
        if args_model is None:
            raise Refused("schema", f"unknown command {body.cmd!r}", body.nonce, body.reply_to)
        try:
            args = args_model.model_validate(body.args)
        except ValidationError as exc:
            raise Refused("invalid_args", _first_error(exc), body.nonce, body.reply_to) from None
        except (RecursionError, ValueError, TypeError) as exc:
            raise Refused("invalid_args", type(exc).__name__, body.nonce, body.reply_to) from None
        # Remembered until it could no longer pass the age check, so a replay is always caught.
        nonce = f"{auth.key_id}:{body.nonce}"
        expires = body.ts_ms / 1000 + self.max_age_s + 1
        if not self.nonces.remember_nonce(nonce, expires, now):
            raise Refused("replayed", f"nonce {body.nonce} was already used", body.nonce, body.reply_to)
        with self._used_lock:
            self._used[nonce] = expires
        return VerifiedCommand(body.cmd, auth.key_id, body.nonce, args, body.reply_to)

    def _seen(self, nonce: str, now: float) -> bool:
        with self._used_lock:
            if len(self._used) > MAX_REMEMBERED_NONCES:
                self._used = {n: e for n, e in self._used.items() if e >= now}
                while len(self._used) > MAX_REMEMBERED_NONCES:  # only the durable table then
                    self._used.pop(next(iter(self._used)))
            expires = self._used.get(nonce)
            return expires is not None and expires >= now


def _parse(model: type[M], raw: object, reason: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise Refused(reason, _first_error(exc)) from None
    except (RecursionError, ValueError, TypeError) as exc:
        raise Refused(reason, type(exc).__name__) from None


def _parse_json(model: type[M], text: str) -> M:
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        raise Refused("schema", _first_error(exc)) from None
    except (RecursionError, ValueError, TypeError) as exc:
        raise Refused("schema", type(exc).__name__) from None
