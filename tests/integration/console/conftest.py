"""One daemon with the console on, shared by the console's integration and browser tests: the demo's
generated clip (looping, at its frame rate), the demo's gallery with one person enrolled, the gate
simulator, a private mosquitto, HTTPS with a throwaway CA, and a random password whose scrypt hash is
read from a file as a credential would be. The clip shows the demo's enrolled person twice a loop.
Every log record is kept to check that no secret leaks."""

from __future__ import annotations

import json
import logging
import secrets
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import cv2
import pytest
import yaml

from edged.app import Daemon
from edged.app_demo import SAMPLES, DemoError, prepare_samples, samples_dir
from edged.config.schema import load_config
from edged.console.passwords import hash_password
from edged.mqtt.localbroker import MOSQUITTO, free_port, make_certificates
from tests.conftest import need


class KeepRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("selenium", "urllib3")):
            return  # the test's own browser driver echoes what it types; the daemon's logs are checked
        self.lines.append(f"{record.name} {record.getMessage()}")


@dataclass
class ConsoleUnit:
    daemon: Daemon
    url: str
    password: str
    password_hash: str
    ca: Path
    config_path: Path
    mqtt_host: str
    mqtt_port: int
    logs: KeepRecords
    workdir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def gallery(self) -> Any:
        return getattr(self.daemon.wiring.identity if self.daemon.wiring else None, "gallery", None)

    def client(self) -> Client:
        return Client(self)


class Client:
    """A plain HTTPS client (the standard library's), checking the console's certificate."""

    def __init__(self, unit: ConsoleUnit) -> None:
        self.unit = unit
        self.context = ssl.create_default_context(cafile=str(unit.ca))
        self.cookie: str | None = None
        self.csrf: str | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.unit.url + path, data=data, method=method)
        if data is not None and raw is None:
            req.add_header("Content-Type", "application/json")
        if self.cookie:
            req.add_header("Cookie", self.cookie)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=self.context), NoRedirect())
        try:
            with opener.open(req, timeout=30) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def login(self, password: str | None = None) -> int:
        sent = {"password": password or self.unit.password}
        status, headers, body = self.request("POST", "/api/login", sent)
        if status == 200:
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(headers["set-cookie"] if "set-cookie" in headers else headers["Set-Cookie"])
            self.cookie = "; ".join(f"{k}={m.value}" for k, m in cookie.items())
            self.csrf = json.loads(body)["csrf"]
        return status

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        status, _, data = self.request("POST", path, body, headers={"X-CSRF-Token": self.csrf or ""})
        return status, json.loads(data or b"null")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _astronaut_twice(portrait: Path, video: Path) -> None:
    """The demo's clip redrawn with its enrolled person walking up twice (frames 0-45, as in the demo,
    and 70-115) and no one else: every pass is hers, so pictures the gate camera takes for an enrolment
    are all of one person whoever the test catches."""
    from edged.app_demo import Walker, head_sprite, render
    from edged.config.schema import EdgedConfig
    from edged.vision.pipeline import FacePipeline

    image = cv2.imread(str(portrait))
    assert image is not None, portrait
    face = max(FacePipeline.from_config(EdgedConfig()).detect(image), key=lambda f: f.width)
    sprite, face_w = head_sprite(image, face.box)
    render([Walker(sprite, face_w, 0, 45), Walker(sprite, face_w, 70, 115)], 140, video)


@pytest.fixture(scope="session")
def console_unit(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[ConsoleUnit]:
    need(Path(MOSQUITTO).exists(), f"mosquitto at {MOSQUITTO} (scripts/setup installs it)")
    have = all((samples_dir() / s.name).is_file() for s in SAMPLES)
    try:
        samples = prepare_samples()
    except DemoError as exc:
        need(have, f"the demo's sample faces (edged demo --prepare): {exc}")
        raise
    from edged.app_demo_setup import build_demo

    work = tmp_path_factory.mktemp("console")
    setup = build_demo(work, samples, say=lambda _t: None)
    _astronaut_twice(samples[0], setup.video)
    password = secrets.token_urlsafe(18)
    stored = hash_password(password)
    (work / "console-password").write_text(stored + "\n")
    certs = make_certificates(work)
    port = free_port()
    doc = yaml.safe_load(setup.config_path.read_text())
    doc["thermal"] = {"enabled": False}  # the clip loops; the recorded thermal stream does not
    doc["policy"]["temperature"] = {"rule": "off"}
    doc["cameras"] = {"rgb": {"type": "file", "path": str(setup.video), "realtime": True, "loop": True}}
    doc["console"] = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": port,
        "tls_cert": str(certs.server_cert),
        "tls_key": {"file": str(certs.server_key)},
        "password_hash": {"file": str(work / "console-password")},
        "login_failures": 3,
        "login_lockout_s": 3.0,
    }
    setup.config_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    cfg = load_config(setup.config_path)
    keep = KeepRecords()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(keep)
    root.setLevel(logging.DEBUG)
    daemon = Daemon(cfg, setup.config_path)
    runner: threading.Thread | None = None
    try:
        daemon.start()
        runner = threading.Thread(target=daemon.run, name="daemon-run", daemon=True)
        runner.start()
        yield ConsoleUnit(
            daemon,
            f"https://127.0.0.1:{port}",
            password,
            stored,
            certs.ca,
            setup.config_path,
            cfg.mqtt.host,
            cfg.mqtt.port,
            keep,
            work,
        )
    finally:
        daemon.request_stop()
        if runner is not None:
            runner.join(timeout=10)
        daemon.stop()
        setup.close()
        root.removeHandler(keep)
        root.setLevel(old_level)
