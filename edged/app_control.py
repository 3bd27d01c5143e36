"""What signed MQTT commands do to the running daemon (``edged.mqtt.dispatch.CommandHandler``).

Every command has already been verified (signature, age, nonce, rate) by the MQTT layer; here it is
only carried out, and a refusal is raised as ``CommandFailed`` with the reason in words.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from edged.events.outbox import OutboxError
from edged.mqtt.command_models import (
    EnrollArgs,
    EraseArgs,
    ModeArgs,
    OpenArgs,
    PingArgs,
    ReloadArgs,
    decode_b64,
    embedding_from_b64,
)
from edged.mqtt.dispatch import CommandFailed, InvalidArgs
from edged.vision.image_io import ImageError, check_image

if TYPE_CHECKING:
    from edged.app import Daemon

log = logging.getLogger(__name__)


class DaemonCommands:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.started = time.monotonic()

    def _wiring(self) -> Any:
        if self.daemon.wiring is None:
            raise CommandFailed("the daemon is not running yet")
        return self.daemon.wiring

    def _gallery(self) -> Any:
        identity = self._wiring().identity
        gallery = getattr(identity, "gallery", None)
        if gallery is None:
            raise CommandFailed("no gallery is open on this unit")
        return gallery

    def open(self, args: OpenArgs) -> dict[str, Any]:
        lane = self.daemon.cfg.lane
        if args.lane is not None and args.lane != lane:
            raise CommandFailed(f"this unit is lane {lane!r}, not {args.lane!r}")
        wiring = self._wiring()
        event: dict[str, Any] = {
            "remote": True,
            "direction": args.direction,
            "detail": args.reason,
            "reasons": [],
        }
        try:
            self.daemon.record("passage.granted", event)  # recorded before the gate opens
        except Exception as exc:
            raise CommandFailed(f"the grant cannot be recorded, the gate stays shut: {exc}") from None
        result = wiring.gate.grant(args.direction)
        if not result.accepted:
            self.daemon.publish("passage.denied", {**event, "reasons": ["gate_fault"], "gate": result.reason})
            raise CommandFailed(f"gate refused: {result.reason}")
        return {"accepted": True, "pulse_s": result.pulse_s}

    def mode(self, args: ModeArgs) -> dict[str, Any]:
        self.daemon.set_mode(args.mode)
        return {"mode": args.mode}

    def enroll(self, args: EnrollArgs) -> dict[str, Any]:
        from edged.identity.records import NewTemplate, Person

        gallery = self._gallery()
        if gallery.person(args.person_id) is not None:
            raise CommandFailed("that person is already enrolled")  # no id: refusals are logged
        person = Person(
            args.person_id,
            args.display_name or args.person_id,
            datetime.now(timezone.utc),
            "mqtt command",
            groups=tuple(args.lanes or ()),
            valid_from=args.valid_from,
            valid_until=args.valid_until,
        )
        if args.embedding_b64 is not None:
            vector = embedding_from_b64(args.embedding_b64)  # checked by EnrollArgs: base64, finite, non-zero
            if vector.size != gallery.dim:
                raise InvalidArgs(f"embedding must be {gallery.dim} float32 values, got {vector.size}")
            gallery.add(person, [NewTemplate(vector)])
            return {"person_id": args.person_id, "templates": 1}
        from edged.identity.enrollment import Enroller

        assert args.image_b64 is not None
        data = decode_b64(args.image_b64)
        try:  # size and declared pixels checked before anything is decoded (a PNG bomb is 124 KB)
            check_image(data, "command image")
        except ImageError as exc:
            raise InvalidArgs(f"photo refused: {exc}") from None
        pipeline = self.daemon.pipeline
        enroller = Enroller(pipeline, gallery, self.daemon.cfg.identity.enrollment)  # type: ignore[arg-type]
        check = enroller.check(data, "command image")  # decodes with edged.vision.image_io.decode_image
        if not check.ok or check.face is None or check.face.embedding is None:
            raise CommandFailed("photo refused: " + ", ".join(check.reasons))
        gallery.add(person, [NewTemplate(check.face.embedding)])
        return {"person_id": args.person_id, "templates": 1}

    def erase(self, args: EraseArgs) -> dict[str, Any]:
        gallery = self._gallery()
        person = gallery.person(args.person_id)
        if person is None:
            raise CommandFailed("that person is not enrolled")  # no id: refusals are logged
        receipt = gallery.erase(args.person_id)
        result = dict(receipt.to_json())
        try:
            result["outbox_messages_scrubbed"] = self.daemon.forget(person.person_id, person.name)
        except OutboxError as exc:  # erased from the gallery; say plainly what is left
            log.error("the erased person's events could not be scrubbed from the outbox: %s", exc)
            result["outbox_scrub_error"] = str(exc)
        return result

    def reload(self, args: ReloadArgs) -> dict[str, Any]:
        self.daemon.request_reload()
        return {"requested": True}

    def ping(self, args: PingArgs) -> dict[str, Any]:
        d = self.daemon
        camera = d.capture.status.state if d.capture is not None else "none"
        return {
            "mode": d.cfg.policy.mode,
            "lane": d.cfg.lane,
            "camera": camera,
            "uptime_s": round(time.monotonic() - self.started, 1),
        }
