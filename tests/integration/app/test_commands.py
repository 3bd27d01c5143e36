"""Signed MQTT commands reach the running daemon and change it: mode, open, ping."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt

from edged.app_broker import LocalBroker
from edged.identity.crypto import write_new_key
from edged.mqtt.signing import generate_private_key_pem, load_private_key, public_key_b64, sign_command
from tests.integration.app.test_faults import Harness, Subscriber, wait_until


def test_mode_open_and_ping_commands(tmp_path: Path, models_dir: Path) -> None:
    key = load_private_key(generate_private_key_pem())
    with LocalBroker() as broker:
        sub = Subscriber(broker)
        write_new_key(tmp_path / "gallery.key")
        identity = {
            "database": str(tmp_path / "gallery.db"),
            "template_key": {"file": str(tmp_path / "gallery.key")},
        }
        h = Harness(
            tmp_path,
            models_dir,
            broker,
            {"type": "simulator"},
            identity=identity,
            commands={"operator_keys": {"ops": public_key_b64(key)}},
        )
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="operator")
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        try:
            link = h.daemon.wiring.mqtt  # type: ignore[union-attr]
            gate = h.daemon.wiring.gate  # type: ignore[union-attr]
            wait_until(lambda: link.connected.is_set(), "daemon connected")
            time.sleep(0.3)  # its command subscription is in place

            def send(cmd: str, args: dict[str, object]) -> dict[str, object]:
                topic = f"edged/faults/cmd/{cmd}"

                def results() -> list[dict[str, object]]:
                    with sub.lock:
                        return [b for t, b in sub.messages if t == f"{topic}/result"]

                before = len(results())
                pub.publish(topic, sign_command(key, "ops", cmd, "faults", args), qos=1).wait_for_publish(5)
                wait_until(lambda: len(results()) > before, f"{cmd} answered")
                return results()[-1]

            r = send("mode", {"mode": "locked"})
            assert r["ok"] is True, r
            assert h.daemon.cfg.policy.mode == "locked" and gate.health().mode == "locked"
            r = send("open", {"reason": "visitor"})
            assert r["ok"] is False and "locked" in json.dumps(r)  # a locked gate refuses, with the reason
            send("mode", {"mode": "screening"})
            r = send("open", {"reason": "visitor"})
            assert r["ok"] is True, r
            wait_until(
                lambda: any(e.get("granted_by") == "remote" for e in sub.events()), "remote grant event"
            )
            vector = np.random.default_rng(3).normal(size=512).astype("<f4")
            vector /= np.linalg.norm(vector)
            emb = base64.b64encode(vector.tobytes()).decode()
            r = send("enroll", {"person_id": "visitor-1", "display_name": "Visitor", "embedding_b64": emb})
            assert r["ok"] is True, r
            gallery = h.daemon.wiring.identity.gallery  # type: ignore[union-attr]
            assert gallery.person("visitor-1") is not None
            assert (
                send("enroll", {"person_id": "visitor-1", "embedding_b64": emb})["ok"] is False
            )  # no duplicate
            r = send("erase", {"person_id": "visitor-1"})
            assert r["ok"] is True and gallery.person("visitor-1") is None
            r = send("ping", {})
            assert r["ok"] is True and r["result"]["mode"] == "screening"  # type: ignore[index]
        finally:
            pub.loop_stop()
            pub.disconnect()
            h.stop()
            sub.close()
