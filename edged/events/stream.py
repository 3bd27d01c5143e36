"""Turns event bodies into enveloped, numbered messages committed to the outbox."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from edged.events.ids import IdGenerator
from edged.events.outbox import Outbox, OutboxError
from edged.events.payloads import (
    BODY_TYPES,
    EVENT_MODELS,
    AlarmBody,
    AlarmEvent,
    Body,
    Envelope,
    SnapshotBody,
    utc_now,
)

log = logging.getLogger(__name__)

OVERFLOW_LOG_INTERVAL_S = 60.0  # the log line; the loss report itself is renewed at every loss


def event_topic(type_: str) -> str:
    """Topic below ``<prefix>/<device_id>/``; snapshots have their own branch so they are opt-in."""
    return "snapshot" if type_ == "snapshot" else f"events/{type_}"


class EventStream:
    def __init__(self, device_id: str, outbox: Outbox) -> None:
        self.device_id = device_id
        self.outbox = outbox
        self._ids = IdGenerator()
        self._last_overflow_log = float("-inf")

    def emit(self, body: Body, expiry_s: int | None = None, *, loss_report: bool = False) -> Envelope:
        """Commit one event; returns it as it will be published. Raises ``OutboxError`` if it cannot be
        written (counted, and its sequence number left as a gap)."""
        type_ = BODY_TYPES[type(body)]
        if isinstance(body, SnapshotBody) and expiry_s is None:
            expiry_s = max(1, int((body.expires_at - utc_now()).total_seconds()))
        built: list[Envelope] = []

        def build(seq: int) -> tuple[str, bytes]:
            event = self.envelope(body, seq)
            if loss_report and isinstance(event, AlarmEvent):
                event = event.model_copy(update={"dropped": self.outbox.dropped()})  # counted in this write
            built.append(event)
            return event.id, event.model_dump_json().encode()

        _, drops = self.outbox.append(
            type_, event_topic(type_), build, expiry_s=expiry_s, loss_report=loss_report
        )
        if drops and not loss_report:
            try:
                self.report_losses(drops)
            except OutboxError:
                log.exception("the loss report could not be recorded (it is counted; the next one will)")
        return built[0]

    def envelope(self, body: Body, seq: int) -> Envelope:
        now = utc_now()
        model = EVENT_MODELS[BODY_TYPES[type(body)]]
        return model(
            **body.model_dump(), id=self._ids.new(now.timestamp()), device_id=self.device_id, seq=seq, ts=now
        )

    def snapshot(self, event_id: str, jpeg_b64: str, retention_s: int) -> Envelope:
        expires = utc_now() + timedelta(seconds=retention_s)
        return self.emit(SnapshotBody(event_id=event_id, image_b64=jpeg_b64, expires_at=expires), retention_s)

    def report_losses(self, drops: dict[str, int]) -> None:
        """The loss report: every message dropped or not recorded since the outbox was created, by type.
        It outranks what it reports (never dropped by the limits) and replaces one still waiting."""
        now = time.monotonic()
        if now - self._last_overflow_log >= OVERFLOW_LOG_INTERVAL_S:
            self._last_overflow_log = now
            log.warning("outbox: messages lost: %s (the loss report counts them all)", drops)
        self.emit(
            AlarmBody(
                alarm="outbox_overflow",
                severity="critical",
                detail="messages were dropped (size or age limit) or could not be recorded; "
                "dropped counts every one since the outbox was created",
            ),
            loss_report=True,
        )
