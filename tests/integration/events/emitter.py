"""A publishing process for the outage test: emits passage events until the outbox's sequence
reaches ``--total`` (so a restarted emitter carries on where the killed one stopped), then waits
until the broker has acknowledged everything. Prints the last committed seq as it goes."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from edged.events.config import MqttConfig
from edged.events.outbox import Outbox
from edged.events.payloads import PassageBody
from edged.events.stream import EventStream
from edged.mqtt.client import MqttLink


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True, help="MqttConfig as JSON")
    parser.add_argument("--device", required=True)
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="events per second")
    args = parser.parse_args()
    config = MqttConfig.model_validate(json.loads(args.config.read_text()))
    outbox = Outbox.from_config(config.outbox)
    stream = EventStream(args.device, outbox)
    link = MqttLink(config, args.device, outbox)
    link.start()
    period = 1.0 / args.rate
    next_at = time.monotonic()
    while outbox.last_seq < args.total:
        event = stream.emit(PassageBody(decision="granted", granted_by="face", lane="lane-1", direction="in"))
        print(event.seq, flush=True)
        next_at += period
        time.sleep(max(0.0, next_at - time.monotonic()))
    drained = outbox.wait_until_empty(90)
    link.stop()
    print("drained" if drained else "not drained", flush=True)
    return 0 if drained else 1


if __name__ == "__main__":
    sys.exit(main())
