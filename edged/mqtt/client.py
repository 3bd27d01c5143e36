"""The daemon's MQTT link: publishes the outbox in order with QoS 1, keeps a retained availability
topic with a last will, and feeds command messages to the dispatcher. Commands arrive on a second
connection (client id ``<client_id>-cmd``) so that whatever is published at the command topics
cannot delay the acknowledgements of events.

Delivery: at most ``outbox.inflight`` messages are handed to paho at once. paho resends them after a
reconnect; a message leaves the outbox only when its PUBACK arrives. After a restart publishing
starts again from the oldest message still in the outbox, so a crash can duplicate (as QoS 1
allows, same event id) but never lose or reorder.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edged.events.config import MqttConfig
from edged.events.outbox import Outbox
from edged.events.payloads import AlarmBody
from edged.events.stream import EventStream
from edged.mqtt.bufferedread import BufferedReadClient
from edged.mqtt.command_auth import CommandVerifier
from edged.mqtt.dispatch import CommandDispatcher, CommandHandler, Incoming
from edged.mqtt.homeassistant import discovery_message
from edged.mqtt.tls import make_tls_context
from edged.mqtt.topics import Topics

log = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"
# CONNACK codes that mean "this broker does not speak MQTT 5" (v5 reason code, 3.1.1 return code).
_UNSUPPORTED_PROTOCOL = (132, 1)
# Reconnect backoff: doubles from the first delay up to the cap, each wait drawn at random between half
# the step and the step, so a fleet does not reconnect in lockstep. The cap bounds how long after the
# broker's return the gate stays away.
RECONNECT_FIRST_S = 0.5
RECONNECT_CAP_S = 4.0
# A flood: this many command messages with no pause of FLOOD_QUIET_S (see _watch_for_flood_end).
FLOOD_MESSAGES = 1000
FLOOD_QUIET_S = 1.0


class Backoff:
    def __init__(self, first_s: float = RECONNECT_FIRST_S, cap_s: float = RECONNECT_CAP_S) -> None:
        self.first_s = first_s
        self.cap_s = cap_s
        self.failures = 0

    def next_delay(self) -> float:
        step = min(self.cap_s, self.first_s * 2 ** min(self.failures, 30))
        self.failures += 1
        return random.uniform(step / 2, step)

    def reset(self) -> None:
        self.failures = 0


@dataclass
class LinkCounters:
    published: int = 0
    acknowledged: int = 0
    rejected: int = 0
    connects: int = 0
    command_worker_restarts: int = 0
    command_resyncs: int = 0


class MqttLink:
    def __init__(
        self,
        config: MqttConfig,
        device_id: str,
        outbox: Outbox,
        handler: CommandHandler | None = None,
        client_id: str | None = None,
    ) -> None:
        self.config = config
        self.topics = Topics(config.topic_prefix, device_id)
        self.outbox = outbox
        self.client_id = client_id or f"edged-{device_id}"
        self.counters = LinkCounters()
        self.protocol = paho.MQTTv5 if config.protocol == "v5" else paho.MQTTv311
        self.connected = threading.Event()
        self.commands_connected = threading.Event()  # the command subscription is in place
        self._stop = threading.Event()
        self._started = False
        self._downgrade = threading.Event()
        self._acked_lock = threading.Lock()
        self._acked_mids: list[tuple[int, bool]] = []
        self._inflight: dict[int, int] = {}
        self._cursor = 0
        self._wake = threading.Condition()
        self._poked = False
        self._flood_seen = 0
        self._flood_burst = 0
        self._flood_last = time.monotonic()
        self.heartbeat = time.monotonic()  # last turn of the publisher loop, for the watchdog
        self._publisher = threading.Thread(target=self._publish_loop, name="mqtt-outbox", daemon=True)
        outbox.add_listener(self._poke)
        self.dispatcher: CommandDispatcher | None = None
        if handler is not None:
            verifier = CommandVerifier(
                device_id,
                config.commands.operator_keys,
                config.commands.max_age_s,
                config.commands.max_clock_skew_s,
                outbox,
            )
            self.dispatcher = CommandDispatcher(
                verifier,
                handler,
                self._respond,
                self.topics.result,
                self.topics.reply_branch,
                config.commands.rate_per_s,
                config.commands.burst,
                on_restart=self._report_restart,
            )
        self._client = self._make_events_client()
        self._commands_client = self._make_commands_client() if self.dispatcher is not None else None

    # --- setup -------------------------------------------------------------------------------

    def _make_client(self, client_id: str, cls: type[paho.Client] = paho.Client) -> paho.Client:
        v5 = self.protocol == paho.MQTTv5
        client = cls(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=self.protocol,
            clean_session=None if v5 else False,
        )
        backoff = Backoff()
        self._set_delay(client, backoff)
        client.user_data_set(backoff)
        client.on_connect_fail = self._on_connect_fail
        if self.config.username is not None:
            password = self.config.password.read_text() if self.config.password is not None else None
            client.username_pw_set(self.config.username, password)
        if self.config.tls.enabled:
            client.tls_set_context(make_tls_context(self.config.tls))
        return client

    @staticmethod
    def _set_delay(client: paho.Client, backoff: Backoff) -> None:
        """paho waits ``min_delay`` before its next attempt after a reset; it takes float seconds."""
        delay = backoff.next_delay()
        client.reconnect_delay_set(cast(int, delay), cast(int, delay))

    def _make_events_client(self) -> paho.Client:
        """Events, availability, discovery and command responses. Nothing is subscribed on this
        connection, so a flood of commands can never queue up in front of its PUBACKs."""
        client = self._make_client(self.client_id)
        client.max_inflight_messages_set(self.config.outbox.inflight + 32)
        client.will_set(self.topics.availability, OFFLINE, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _make_commands_client(self) -> paho.Client:
        # Reads in large chunks: a flood must not slow the reading of the signed commands within it.
        client = self._make_client(f"{self.client_id}-cmd", BufferedReadClient)
        client.on_connect = self._on_commands_connect
        client.on_subscribe = lambda *_: self.commands_connected.set()
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties | None:
        if self.protocol != paho.MQTTv5:
            return None
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.session_expiry_s
        return props

    def start(self) -> None:
        """Connect in the background; returns at once (the broker may be down, events still queue)."""
        if self.dispatcher is not None:
            self.dispatcher.start()
        self._connect()
        self._publisher.start()
        self._started = True

    def _connect(self) -> None:
        for client in (self._client, self._commands_client):
            if client is not None:
                self._connect_one(client)

    def _connect_one(self, client: paho.Client) -> None:
        v5 = self.protocol == paho.MQTTv5
        client.connect_async(
            self.config.host,
            self.config.port,
            keepalive=self.config.keepalive_s,
            clean_start=False if v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=self._connect_properties(),
        )
        client.loop_start()

    def _watch_for_flood_end(self) -> None:
        """A broker that cannot hand a flood to the gate fast enough drops from its outgoing queue, and
        mosquitto may drop a QoS 1 command there too: it stays unacknowledged in the session and is sent
        again only on a reconnect. So once a flood is over, the command session is resumed afresh."""
        assert self.dispatcher is not None
        now = time.monotonic()
        received = self.dispatcher.counters.received
        if received != self._flood_seen:
            self._flood_burst += received - self._flood_seen
            self._flood_seen, self._flood_last = received, now
            return
        if self._flood_burst < FLOOD_MESSAGES or now - self._flood_last < FLOOD_QUIET_S:
            if now - self._flood_last >= FLOOD_QUIET_S:
                self._flood_burst = 0
            return
        self._flood_burst = 0
        old = self._commands_client
        if old is None or not self.commands_connected.is_set() or self._stop.is_set():
            return
        log.warning(
            "a flood of commands is over; resuming the command session to get what the broker held back"
        )
        self.counters.command_resyncs += 1
        old.disconnect()
        old.loop_stop()
        self.commands_connected.clear()
        self._commands_client = self._make_commands_client()
        self._connect_one(self._commands_client)

    def stop(self, drain_s: float = 0.0) -> None:
        """Optionally wait for the outbox to drain, mark the gate offline and disconnect."""
        if not self._started:
            return
        if drain_s > 0 and self.connected.is_set():
            self.outbox.wait_until_empty(drain_s)
        self._stop.set()
        self._poke()
        self._publisher.join(5)
        if self._commands_client is not None:
            self._commands_client.disconnect()
            self._commands_client.loop_stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.connected.is_set():
            info = self._client.publish(self.topics.availability, OFFLINE, qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(2)
        self._client.disconnect()
        self._client.loop_stop()

    def publish_now(self, topic: str, payload: bytes) -> bool:
        """Hand one message to paho directly, not through the outbox (for when the outbox cannot be
        written): kept in memory only, sent when connected. False if paho refused it."""
        info = self._client.publish(self.topics.under(topic), payload, qos=1)
        return info.rc in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN)

    # --- paho callbacks (network thread) -------------------------------------------------------

    def _on_connect(
        self,
        client: paho.Client,
        _userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            if self.protocol == paho.MQTTv5 and reason.value in _UNSUPPORTED_PROTOCOL:
                log.warning("broker refuses MQTT 5; falling back to MQTT 3.1.1")
                self._downgrade.set()
            else:
                log.error("broker refused the connection: %s", reason)
            return
        _connected_again(client)
        self.counters.connects += 1
        log.info(
            "connected to %s:%d (session present: %s)",
            self.config.host,
            self.config.port,
            flags.session_present,
        )
        client.publish(self.topics.availability, ONLINE, qos=1, retain=True)
        if self.config.homeassistant.enabled:
            topic, payload = discovery_message(self.config.homeassistant.discovery_prefix, self.topics)
            client.publish(topic, payload, qos=1, retain=True)
        self.connected.set()
        self._poke()

    def _on_commands_connect(
        self,
        client: paho.Client,
        _userdata: object,
        _flags: paho.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if not reason.is_failure:
            _connected_again(client)
            client.subscribe(self.topics.commands, qos=1)

    def _on_connect_fail(self, client: paho.Client, _userdata: object) -> None:
        self._set_delay(client, client.user_data_get())

    def _on_disconnect(
        self,
        client: paho.Client,
        _userdata: object,
        _flags: paho.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if client is self._client:
            if self.connected.is_set() and not self._stop.is_set():
                log.warning("disconnected from the broker: %s", reason)
            self.connected.clear()
        elif client is self._commands_client:  # not a connection already replaced
            self.commands_connected.clear()
        self._set_delay(client, client.user_data_get())

    def _on_publish(
        self, _client: paho.Client, _userdata: object, mid: int, reason: ReasonCode, _props: Properties | None
    ) -> None:
        with self._acked_lock:
            self._acked_mids.append((mid, reason.is_failure))
        self._poke()

    def _on_message(self, _client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        name = self.topics.command_name(message.topic)
        if name is None or self.dispatcher is None:
            return
        props = message.properties
        response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        incoming = Incoming(name, bytes(message.payload), response_topic, correlation, message.qos)
        self.dispatcher.submit(incoming)

    def _report_restart(self, report: str) -> None:
        """A command thread died and was restarted: a critical alarm over MQTT (and a counter)."""
        self.counters.command_worker_restarts += 1
        EventStream(self.topics.device_id, self.outbox).emit(
            AlarmBody(alarm="software_fault", severity="critical", detail=report[:1024])
        )

    def _poke(self) -> None:
        with self._wake:
            self._poked = True
            self._wake.notify_all()

    def _respond(self, topic: str, payload: bytes, correlation: bytes | None) -> None:
        props = None
        if self.protocol == paho.MQTTv5 and correlation is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = correlation
        self._client.publish(topic, payload, qos=1, properties=props)

    # --- publisher thread ----------------------------------------------------------------------

    def _settle_acks(self) -> None:
        with self._acked_lock:
            acked, self._acked_mids = self._acked_mids, []
        done: list[int] = []
        for mid, failed in acked:
            # Mids are recorded on this thread right after publish(), before this runs, so an unknown
            # mid is a control message (availability, a response, discovery).
            seq = self._inflight.pop(mid, None)
            if seq is None:
                continue
            if failed:
                self.counters.rejected += 1
                log.error("broker rejected message seq %d; it is removed from the outbox", seq)
            done.append(seq)
        if done:
            self.outbox.ack(done)
            self.counters.acknowledged += len(done)

    def _publish_loop(self) -> None:
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            try:
                if self._downgrade.is_set():
                    self._fall_back_to_v311()
                if self.dispatcher is not None:
                    self.dispatcher.revive()
                    self._watch_for_flood_end()
                self._settle_acks()
                self._hand_over()
            except Exception:  # the loop must outlive a bad moment (disk full, a paho error)
                log.exception("publishing from the outbox failed; retrying")
                self._stop.wait(1.0)
            with self._wake:
                if not self._poked:
                    self._wake.wait(0.05)
                self._poked = False

    def _hand_over(self) -> None:
        """Give paho the next messages, up to the in-flight window."""
        room = self.config.outbox.inflight - len(self._inflight)
        if not self.connected.is_set() or room <= 0:
            return
        for row in self.outbox.pending(self._cursor, room):
            props = None
            if row.expiry_s is not None and self.protocol == paho.MQTTv5:
                props = Properties(PacketTypes.PUBLISH)
                props.MessageExpiryInterval = max(1, int(row.created + row.expiry_s - time.time()))
            info = self._client.publish(self.topics.under(row.topic), row.payload, qos=1, properties=props)
            if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):  # NO_CONN: queued by paho
                log.error("paho refused to queue seq %d: %s", row.seq, paho.error_string(info.rc))
                return
            self._inflight[info.mid] = row.seq
            self._cursor = row.seq
            self.counters.published += 1

    def _fall_back_to_v311(self) -> None:
        self._downgrade.clear()
        self._client.loop_stop()
        if self._commands_client is not None:
            self._commands_client.loop_stop()
        self.protocol = paho.MQTTv311
        self._inflight.clear()
        self._cursor = 0
        self._client = self._make_events_client()
        self._commands_client = self._make_commands_client() if self.dispatcher is not None else None
        self._connect()


def _connected_again(client: paho.Client) -> None:
    """A connection accepted by the broker: the next outage starts the backoff from the first step."""
    backoff = client.user_data_get()
    if isinstance(backoff, Backoff):
        backoff.reset()
