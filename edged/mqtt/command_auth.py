"""Checks a command before anything acts on it: size, schema, operator signature, target, age,
replay and arguments. Every refusal has a reason a back office can act on."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

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


class CommandVerifier:
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

    def verify(self, topic_name: str, payload: bytes, now_s: float | None = None) -> VerifiedCommand:
        now = time.time() if now_s is None else now_s
        if len(payload) > MAX_COMMAND_BYTES:
            raise Refused("too_large", f"{len(payload)} bytes, at most {MAX_COMMAND_BYTES}")
        try:
            outer_raw = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise Refused("schema", "not JSON") from None
        if isinstance(outer_raw, dict) and "sig" not in outer_raw:
            raise Refused("unsigned", "the command has no signature")
        try:
            outer = SignedCommand.model_validate(outer_raw)
        except ValidationError as exc:
            raise Refused("schema", _first_error(exc)) from None
        key = self.keys.get(outer.key_id)
        if key is None:
            raise Refused("unknown_key", f"no operator key {outer.key_id!r} in the config")
        if not verify(key, outer.sig, outer.body.encode()):
            raise Refused("bad_signature", f"signature does not match key {outer.key_id!r}")
        try:
            body = CommandBody.model_validate_json(outer.body)
        except ValidationError as exc:
            raise Refused("schema", _first_error(exc)) from None
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
        args_model = ARG_MODELS.get(body.cmd)
        if args_model is None:
            raise Refused("schema", f"unknown command {body.cmd!r}", body.nonce, body.reply_to)
        try:
            args = args_model.model_validate(body.args)
        except ValidationError as exc:
            raise Refused("invalid_args", _first_error(exc), body.nonce, body.reply_to) from None
        # Remembered until it could no longer pass the age check, so a replay is always caught.
        expires = body.ts_ms / 1000 + self.max_age_s + 1
        if not self.nonces.remember_nonce(f"{outer.key_id}:{body.nonce}", expires, now):
            raise Refused("replayed", f"nonce {body.nonce} was already used", body.nonce, body.reply_to)
        return VerifiedCommand(body.cmd, outer.key_id, body.nonce, args, body.reply_to)
