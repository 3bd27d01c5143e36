"""What the daemon holds: the event stream, its outbox and the MQTT link, built from config.

With ``mqtt.enabled: false`` nothing is stored or sent (there is nobody to deliver to); with it,
every event is committed before ``emit`` returns, whether or not the broker is reachable."""

from __future__ import annotations

from edged.events.config import MqttConfig
from edged.events.outbox import Outbox
from edged.events.payloads import Body, Envelope, StatusBody
from edged.events.stream import EventStream
from edged.mqtt.client import MqttLink
from edged.mqtt.dispatch import CommandHandler


class EventsService:
    def __init__(self, config: MqttConfig, device_id: str, handler: CommandHandler | None) -> None:
        self.config = config
        self.outbox: Outbox | None = None
        self.stream: EventStream | None = None
        self.link: MqttLink | None = None
        if config.enabled:
            self.outbox = Outbox.from_config(config.outbox)
            self.stream = EventStream(device_id, self.outbox)
            self.link = MqttLink(config, device_id, self.outbox, handler)

    def start(self) -> None:
        if self.link is not None:
            self.link.start()

    def stop(self, drain_s: float = 2.0) -> None:
        """Gives the broker ``drain_s`` to take what is pending; the rest stays for the next start."""
        if self.link is not None:
            self.link.stop(drain_s)
        if self.outbox is not None:
            self.outbox.close()

    def emit(self, body: Body) -> Envelope | None:
        if self.stream is None:
            return None
        return self.stream.emit(body)

    def emit_status(self, body: StatusBody) -> Envelope | None:
        """A status event with the outbox's own figures filled in."""
        if self.stream is None or self.outbox is None:
            return None
        filled = body.model_copy(
            update={"outbox_pending": len(self.outbox), "outbox_dropped": sum(self.outbox.dropped().values())}
        )
        return self.stream.emit(filled)

    def snapshot(self, event_id: str, jpeg_b64: str) -> Envelope | None:
        """Only when snapshots are switched on; the caller passes the face crop, never the frame."""
        if self.stream is None or not self.config.snapshots.enabled:
            return None
        return self.stream.snapshot(event_id, jpeg_b64, self.config.snapshots.retention_s)
