"""The console's security against the running daemon over real HTTPS: no answer without a session,
CSRF-less and foreign-origin POSTs refused, wrong passwords locked out, audit events on MQTT for logins
and changes, and neither the password nor its hash in any log line or event."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from edged.console.web import PAGES
from tests.integration.console.conftest import ConsoleUnit

APIS_GET = [
    "/api/live.jpg",
    "/api/live/state",
    "/api/passages",
    "/api/passages/stream",
    "/api/people",
    "/api/health",
    "/api/config",
]
APIS_POST = [
    "/api/logout",
    "/api/people/picture",
    "/api/people/pictures/clear",
    "/api/people/enrol",
    "/api/people/erase",
    "/api/config/apply",
]


def test_nothing_answers_without_a_session(console_unit: ConsoleUnit) -> None:
    c = console_unit.client()
    for page in PAGES:
        status, headers, _ = c.request("GET", f"/{page}")
        assert (status, headers.get("location")) == (303, "/login"), page
    for path in APIS_GET:
        status, _, body = c.request("GET", path)
        assert status == 401 and b"log in" in body, path
    for path in APIS_POST:
        status, _, _ = c.request("POST", path, {"person_id": "demo-astronaut"})
        assert status == 401, path
    c.cookie = "edged_console=forged-token-value"
    assert c.request("GET", "/api/people")[0] == 401
    assert console_unit.gallery().person("demo-astronaut") is not None


def test_a_post_without_the_csrf_token_or_from_another_origin_is_refused(console_unit: ConsoleUnit) -> None:
    c = console_unit.client()
    assert c.login() == 200
    status, _, body = c.request("POST", "/api/people/erase", {"person_id": "demo-astronaut"})
    assert status == 403 and b"CSRF" in body
    status, _, _ = c.request(
        "POST", "/api/people/erase", {"person_id": "demo-astronaut"}, headers={"X-CSRF-Token": "wrong"}
    )
    assert status == 403
    status, _, body = c.request(
        "POST",
        "/api/people/erase",
        {"person_id": "demo-astronaut"},
        headers={"X-CSRF-Token": c.csrf or "", "Origin": "https://evil.example"},
    )
    assert status == 403 and b"origin" in body
    status, _, _ = c.request(
        "POST",
        "/api/people/erase",
        raw=b"person_id=demo-astronaut",
        headers={"X-CSRF-Token": c.csrf or "", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 415
    assert console_unit.gallery().person("demo-astronaut") is not None
    assert c.post("/api/logout", {})[0] == 200
    assert c.request("GET", "/api/people")[0] == 401  # the session is gone on the server too


class AuditListener:
    def __init__(self, unit: ConsoleUnit) -> None:
        self.events: list[dict[str, Any]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_a: c.subscribe("edged/+/events/audit", qos=1)
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_message = lambda _c, _u, m: self.events.append(json.loads(m.payload))
        self.client.connect(unit.mqtt_host, unit.mqtt_port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def wait_for(self, n: int, timeout_s: float = 15.0) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout_s
        while len(self.events) < n and time.monotonic() < end:
            time.sleep(0.05)
        return list(self.events)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_wrong_passwords_are_locked_out_and_every_login_and_change_is_audited(
    console_unit: ConsoleUnit,
) -> None:
    listener = AuditListener(console_unit)
    try:
        c = console_unit.client()
        assert [c.login("not the password") for _ in range(3)] == [401, 401, 401]
        assert c.login() == 429  # locked out: even the right password is refused for now
        assert c.cookie is None
        time.sleep(3.2)  # the fixture's lock-out is 3 s
        assert c.login() == 200
        text = console_unit.config_path.read_text()
        status, body = c.post("/api/config/apply", {"text": text + "\nno_such_key: 1\n"})
        assert status == 422 and any("no_such_key" in e for e in body["errors"])
        assert console_unit.config_path.read_text() == text
        events = listener.wait_for(6)
    finally:
        listener.close()
    got = [(e["action"], e["ok"]) for e in events]
    assert got[:6] == [("login", False)] * 3 + [
        ("login_refused", False),
        ("login", True),
        ("config_refused", False),
    ]
    assert "no_such_key" in events[5]["detail"]
    assert all(e["client"] == "127.0.0.1" and e["type"] == "audit" for e in events)
    text = json.dumps(events)
    assert console_unit.password not in text and "not the password" not in text


def test_the_password_and_its_hash_never_reach_the_logs(console_unit: ConsoleUnit) -> None:
    c = console_unit.client()
    assert c.login() == 200
    assert c.login("a wrong one, logged nowhere") == 401
    lines = "\n".join(console_unit.logs.lines)
    assert "console.audit" in lines  # the records were captured
    for secret in (console_unit.password, console_unit.password_hash, "a wrong one, logged nowhere"):
        assert secret not in lines
    salt = console_unit.password_hash.split("$")[4]
    assert salt not in lines
