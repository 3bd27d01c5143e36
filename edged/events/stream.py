"""Turns event bodies into enveloped, numbered messages committed to the outbox."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from edged.events.ids import IdGenerator
from edged.events.outbox import Outbox
from edged.events.payloads import (
    BODY_TYPES,
    EVENT_MODELS,
    AlarmBody,
    Body,
    Envelope,
    SnapshotBody,
    utc_now,
)

log = logging.getLogger(__name__)

OVERFLOW_ALARM_INTERVAL_S = 60.0


def event_topic(type_: str) -> str:
    """Topic below ``<prefix>/<device_id>/``; snapshots have their own branch so they are opt-in."""
    return "snapshot" if type_ == "snapshot" else f"events/{type_}"


class EventStream:
    def __init__(self, device_id: str, outbox: Outbox) -> None:
        self.device_id = device_id
        self.outbox = outbox
        self._ids = IdGenerator()
        self._last_overflow_alarm = float("-inf")
        self._unreported_drops: dict[str, int] = {}

    def emit(self, body: Body, expiry_s: int | None = None) -> Envelope:
        """Commit one event; returns it as it will be published."""
        type_ = BODY_TYPES[type(body)]
        model = EVENT_MODELS[type_]
        if isinstance(body, SnapshotBody) and expiry_s is None:
            expiry_s = max(1, int((body.expires_at - utc_now()).total_seconds()))
        built: list[Envelope] = []

        def build(seq: int) -> tuple[str, bytes]:
            now = utc_now()
            event = model(
                **body.model_dump(),
                id=self._ids.new(now.timestamp()),
                device_id=self.device_id,
                seq=seq,
                ts=now,
            )
            built.append(event)
            return event.id, event.model_dump_json().encode()

        _, drops = self.outbox.append(type_, event_topic(type_), build, expiry_s=expiry_s)
        if drops:
            self._note_drops(drops)
        return built[0]

    def snapshot(self, event_id: str, jpeg_b64: str, retention_s: int) -> Envelope:
        expires = utc_now() + timedelta(seconds=retention_s)
        return self.emit(SnapshotBody(event_id=event_id, image_b64=jpeg_b64, expires_at=expires), retention_s)

    def _note_drops(self, drops: dict[str, int]) -> None:
        for type_, n in drops.items():
            self._unreported_drops[type_] = self._unreported_drops.get(type_, 0) + n
        now = time.monotonic()
        if now - self._last_overflow_alarm < OVERFLOW_ALARM_INTERVAL_S:
            return
        self._last_overflow_alarm = now
        reported, self._unreported_drops = self._unreported_drops, {}
        log.warning("outbox limit reached: dropped %s", reported)
        self.emit(
            AlarmBody(
                alarm="outbox_overflow",
                severity="critical",
                detail="the outbox reached its size or age limit and dropped messages",
                dropped=reported,
            )
        )
