"""Home Assistant MQTT discovery, device-based (one retained config message for the whole gate)."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from edged.mqtt.topics import Topics

GATE_STATES = ["closed", "open", "fault", "unknown"]


def _software_version() -> str:
    try:
        return version("edged")
    except PackageNotFoundError:
        return "unknown"


def discovery_topic(discovery_prefix: str, topics: Topics) -> str:
    return f"{discovery_prefix}/device/{topics.prefix}_{topics.device_id}/config"


def discovery_payload(topics: Topics) -> dict[str, Any]:
    uid = f"{topics.prefix}_{topics.device_id}"
    sw = _software_version()
    events = topics.under("events")
    return {
        "dev": {
            "ids": [uid],
            "name": f"Gate {topics.device_id}",
            "mf": "edged",
            "mdl": "turnstile camera unit",
            "sw": sw,
        },
        "o": {"name": "edged", "sw": sw},
        "avty_t": topics.availability,
        "pl_avail": "online",
        "pl_not_avail": "offline",
        "qos": 1,
        "cmps": {
            "gate_state": {
                "p": "sensor",
                "name": "Gate state",
                "uniq_id": f"{uid}_gate_state",
                "stat_t": f"{events}/status",
                "val_tpl": "{{ value_json.gate_state }}",
                "dev_cla": "enum",
                "ops": GATE_STATES,
            },
            "last_passage": {
                "p": "sensor",
                "name": "Last passage",
                "uniq_id": f"{uid}_last_passage",
                "stat_t": f"{events}/passage",
                "val_tpl": "{{ value_json.decision }}",
                "json_attr_t": f"{events}/passage",
            },
            "alarm": {
                "p": "binary_sensor",
                "name": "Alarm",
                "uniq_id": f"{uid}_alarm",
                "stat_t": f"{events}/alarm",
                "val_tpl": "{{ 'ON' if value_json.active else 'OFF' }}",
                "dev_cla": "problem",
                "json_attr_t": f"{events}/alarm",
            },
            "online": {
                "p": "binary_sensor",
                "name": "Online",
                "uniq_id": f"{uid}_online",
                "stat_t": topics.availability,
                "pl_on": "online",
                "pl_off": "offline",
                "dev_cla": "connectivity",
            },
        },
    }


def discovery_message(discovery_prefix: str, topics: Topics) -> tuple[str, bytes]:
    return discovery_topic(discovery_prefix, topics), json.dumps(discovery_payload(topics)).encode()
