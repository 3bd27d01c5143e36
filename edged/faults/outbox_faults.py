"""Fault scenarios, events and storage: the state directory full or read-only under the running daemon,
the outbox overflowing while the broker is away, an erase that must reach every store, an empty gallery
file, a camera that never starts.

Each drives the real daemon (or the real outbox and MQTT link) against a real mosquitto and decides
``ok`` from what it observed: gate opens against passages received, sequence numbers received against
the loss report, bytes found in files. The full and read-only file systems are real: a 2 MiB tmpfs
mounted in the scenario's folder (needs root; without it the scenario fails and says so).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml

from edged.faults import Outcome, Scenario

WAIT_S = 40.0  # the longest any scenario waits for one observation
DEVICE = "faults-outbox"
ERASE_ID = "p-erase-7731"
ERASE_NAME = "Zelda Quist"


def _wait(pred: Callable[[], object], timeout: float = WAIT_S) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return bool(pred())


class _Subscriber:
    """Everything the daemon publishes (events parsed), and a way to send signed commands."""

    def __init__(self, host: str, port: int) -> None:
        self.messages: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{os.getpid()}-{id(self)}")
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe("edged/#", qos=1)
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            body: Any = json.loads(msg.payload)
        except ValueError:
            body = msg.payload.decode(errors="replace")
        with self.lock:
            self.messages.append((msg.topic, body))

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [b for t, b in self.messages if "/events/" in t and isinstance(b, dict)]

    def results(self, topic: str) -> list[dict[str, Any]]:
        with self.lock:
            return [b for t, b in self.messages if t == topic and isinstance(b, dict)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _alarms(sub: _Subscriber, kind: str) -> list[dict[str, Any]]:
    return [e for e in sub.events() if e.get("type") == "alarm" and e.get("alarm") == kind]


def _failing_status(sub: _Subscriber) -> list[dict[str, Any]]:
    return [
        e
        for e in sub.events()
        if e.get("type") == "status"
        and e.get("health") == "failing"
        and str(e.get("components", {}).get("storage", "")).startswith("failing")
    ]


def _gap_report(sub: _Subscriber) -> dict[str, Any]:
    """Sequence numbers never received against what the newest loss report counts."""
    seqs = {int(e["seq"]) for e in sub.events() if "seq" in e}
    top = max(seqs, default=0)
    missing = top - len(seqs)
    reports = sorted(_alarms(sub, "outbox_overflow"), key=lambda e: int(e["seq"]))
    counted = sum(reports[-1]["dropped"].values()) if reports else 0
    return {"last_seq": top, "missing_seqs": missing, "loss_report_counts": counted}


@contextmanager
def _tmpfs(path: Path, size: str = "2m") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"cannot mount a {size} tmpfs at {path} (needs root): {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def _remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True, capture_output=True)


def _fill(path: Path) -> int:
    """Write a filler file until the file system says it is full; returns the bytes written."""
    written = 0
    with (path / "filler").open("wb", buffering=0) as f:
        chunk = b"\0" * 4096
        while True:
            try:
                written += f.write(chunk)
            except OSError:
                break
        with suppress(OSError):
            while f.write(b"\0"):
                written += 1
    return written


def _models_dir() -> Path:
    from edged.models import default_models_dir

    return Path(os.environ.get("EDGED_MODELS_DIR", default_models_dir()))


def _face_clip(path: Path) -> tuple[Path, Any]:
    """A corridor where one sample portrait walks up to the gate twice in 6 s (looped by the camera);
    returns the clip and a face embedding of it for enrolment."""
    import cv2

    from edged.app_demo import Walker, head_sprite, prepare_samples, render
    from edged.config.schema import load_config
    from edged.vision.pipeline import FacePipeline

    base = load_config(None)
    cfg = base.model_copy(update={"models": base.models.model_copy(update={"dir": _models_dir()})})
    pipeline = FacePipeline.from_config(cfg)
    image = cv2.imread(str(prepare_samples()[0]))
    if image is None:
        raise RuntimeError("cannot read the sample portrait")
    faces = pipeline.detect(image)
    if not faces:
        raise RuntimeError("no face in the sample portrait")
    face = max(faces, key=lambda f: f.width)
    sprite, face_w = head_sprite(image, face.box)
    render([Walker(sprite, face_w, 0, 45), Walker(sprite, face_w, 70, 115)], 120, path)
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 40)
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise RuntimeError("cannot read back the clip")
    near = max(pipeline.detect(frame), key=lambda f: f.width)
    pipeline.embed([near])
    return path, near


class _Run:
    """The daemon in this process with a real broker, a simulator gate and a looping face clip."""

    def __init__(
        self, work: Path, outbox: Path, *, mode: str = "screening", commands: bool = False, **extra: Any
    ) -> None:
        from edged.app import Daemon
        from edged.app_broker import LocalBroker
        from edged.config.schema import load_config
        from edged.mqtt.signing import generate_private_key_pem, load_private_key, public_key_b64

        self.operator = load_private_key(generate_private_key_pem()) if commands else None
        self.pub: mqtt.Client | None = None
        if self.operator is not None:
            extra["mqtt"] = {"commands": {"operator_keys": {"ops": public_key_b64(self.operator)}}}
        self.broker = LocalBroker()
        self.broker.start()
        self.sub = _Subscriber(self.broker.host, self.broker.port)
        clip = extra.pop("clip", None)
        self.doc: dict[str, Any] = {
            "device_id": DEVICE,
            "lane": "lane-1",
            "models": {"dir": str(_models_dir())},
            "cameras": {
                "rgb": {"type": "file", "path": str(clip or work / "none.avi"), "loop": True},
                "supervisor": {
                    "read_timeout_s": 0.2,
                    "stall_s": 1.0,
                    "backoff_initial_s": 0.1,
                    "backoff_max_s": 0.5,
                },
            },
            "policy": {"mode": mode},
            "gate": {"type": "simulator", "passage_delay_s": 0.5},
            "mqtt": {
                "enabled": True,
                "host": self.broker.host,
                "port": self.broker.port,
                "outbox": {"path": str(outbox)},
                **extra.pop("mqtt", {}),
            },
            **extra,
        }
        cfg_path = work / "edged.yaml"
        cfg_path.write_text(yaml.safe_dump(self.doc))
        self.kinds: list[str] = []
        self.daemon = Daemon(load_config(cfg_path), cfg_path, on_event=lambda k, p: self.kinds.append(k))
        self._runner: threading.Thread | None = None
        try:
            self.daemon.start()
        except BaseException:
            self.close()
            raise
        self._runner = threading.Thread(target=self.daemon.run, daemon=True)
        self._runner.start()
        if self.operator is not None:
            self.pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"operator-{os.getpid()}")
            self.pub.connect(self.broker.host, self.broker.port)
            self.pub.loop_start()

    def send(self, cmd: str, args: dict[str, object]) -> dict[str, Any]:
        """A signed command; its result as published (or a note that none came)."""
        from edged.mqtt.signing import sign_command

        assert self.pub is not None and self.operator is not None
        link = self.daemon.wiring.mqtt if self.daemon.wiring is not None else None
        _wait(lambda: link is not None and link.connected.is_set())
        time.sleep(0.3)  # its command subscription is in place
        topic = f"edged/{DEVICE}/cmd/{cmd}"
        before = len(self.sub.results(f"{topic}/result"))
        self.pub.publish(
            topic, sign_command(self.operator, "ops", cmd, DEVICE, args), qos=1
        ).wait_for_publish(5)
        _wait(lambda: len(self.sub.results(f"{topic}/result")) > before)
        got = self.sub.results(f"{topic}/result")
        return got[-1] if len(got) > before else {"ok": False, "error": "no answer"}

    @property
    def opens(self) -> list[float]:
        gate = self.daemon.wiring.gate if self.daemon.wiring is not None else None
        turnstile = getattr(gate, "turnstile", None)
        return [o.at for o in turnstile.opens] if turnstile is not None else []

    def decided(self) -> int:
        return len(self.daemon.lane.passages) if self.daemon.lane is not None else 0

    def not_recorded(self) -> int:
        lane = self.daemon.lane
        return sum(1 for p in lane.passages if "not_recorded" in p.reasons) if lane is not None else 0

    def granted_received(self) -> int:
        """Passages that went through as far as the subscriber can tell (a grant the gate then refused
        is followed by a denial with gate_fault)."""
        ev = [e for e in self.sub.events() if e.get("type") == "passage"]
        granted = sum(1 for e in ev if e["decision"] == "granted")
        refused = sum(1 for e in ev if e["decision"] == "denied" and "gate_fault" in e.get("reasons", []))
        return granted - refused

    def close(self) -> None:
        if self.pub is not None:
            self.pub.loop_stop()
            self.pub.disconnect()
        self.daemon.request_stop()
        if self._runner is not None:
            self._runner.join(timeout=10)
        with suppress(Exception):
            self.daemon.stop()
        self.sub.close()
        self.broker.stop()


def disk_full(workdir: Path) -> Outcome:
    """The state directory (a 2 MiB tmpfs, the rest taken by a filler file) fills up while people walk
    through: not one grant the gate cannot record (every open has its passage received; people decided
    while writes fail are denied ``not_recorded``), the alarm and a failing status reach the broker
    directly, and after space is freed the loss report counts every sequence number that never arrived.
    (While the disk is full a write can still succeed in space the WAL already holds: such a grant is
    recorded, and counted in ``grants_while_full``.)"""
    clip, _ = _face_clip(workdir / "walk.avi")
    obs: dict[str, Any] = {}
    with _tmpfs(workdir / "state") as state:
        run = _Run(workdir, state / "outbox.sqlite3", clip=clip)
        try:
            obs["recorded_before_fault"] = _wait(lambda: run.granted_received() >= 1)
            decided_at_fill = run.decided()
            filled_at = time.perf_counter()
            obs["filler_bytes"] = _fill(state)
            obs["alarm_direct"] = _wait(
                lambda: any(a.get("active") for a in _alarms(run.sub, "storage_failure"))
            )
            obs["status_failing"] = bool(_wait(lambda: _failing_status(run.sub)))
            failed_at = time.perf_counter()
            _wait(lambda: run.decided() >= decided_at_fill + 2)  # people kept walking up
            obs["decided_while_full"] = run.decided() - decided_at_fill
            obs["denied_not_recorded"] = run.not_recorded()
            obs["grants_after_fill_before_alarm"] = sum(1 for t in run.opens if filled_at < t <= failed_at)
            (state / "filler").unlink()
            freed_at = time.perf_counter()
            obs["grants_while_full"] = sum(1 for t in run.opens if failed_at < t <= freed_at)
            obs["recovered"] = _wait(
                lambda: any(a.get("active") is False for a in _alarms(run.sub, "storage_failure"))
            )
            obs["grants_after_recovery"] = _wait(lambda: any(t > freed_at for t in run.opens)) and sum(
                1 for t in run.opens if t > freed_at
            )
            run.daemon.set_mode("locked")  # nobody else let through while the last events are counted
            time.sleep(1.0)
            link = run.daemon.wiring.mqtt if run.daemon.wiring is not None else None
            _wait(lambda: link is not None and len(link.outbox) == 0)
            time.sleep(0.5)
            obs["gate_opens"] = len(run.opens)
            obs["grants_received"] = run.granted_received()
            obs.update(_gap_report(run.sub))
        finally:
            run.close()
    ok = (
        obs["recorded_before_fault"]
        and obs["alarm_direct"]
        and obs["status_failing"]
        and obs["denied_not_recorded"] >= 1
        and obs["recovered"]
        and bool(obs["grants_after_recovery"])
        and obs["gate_opens"] == obs["grants_received"]
        and obs["missing_seqs"] == obs["loss_report_counts"]
    )
    return Outcome(bool(ok), obs)


def state_readonly(workdir: Path) -> Outcome:
    """The daemon starts on a state directory that is read-only (a file system remounted read-only after
    errors, the outbox left by a crash): it must not grant, and must say so over MQTT with the reason;
    once writable again it records and grants again."""
    clip, _ = _face_clip(workdir / "walk.avi")
    obs: dict[str, Any] = {}
    with _tmpfs(workdir / "state") as state:
        outbox = state / "outbox.sqlite3"
        crash = (
            "import os, sys; from pathlib import Path; from edged.events.outbox import Outbox; "
            "o = Outbox(Path(sys.argv[1])); o.append('status', 't', lambda s: ('x', b'{}')); os._exit(0)"
        )
        subprocess.run([sys.executable, "-c", crash, str(outbox)], check=True, env=dict(os.environ))
        _remount(state, "ro")
        run = _Run(workdir, outbox, clip=clip, commands=True)
        try:
            obs["alarm_direct"] = _wait(
                lambda: any(a.get("active") for a in _alarms(run.sub, "storage_failure"))
            )
            failing = _failing_status(run.sub)
            obs["status_reason"] = failing[0]["components"]["storage"] if failing else None
            obs["decided_while_readonly"] = _wait(lambda: run.decided() >= 2) and run.decided()
            remote = run.send("open", {"reason": "visitor"})
            obs["remote_open"] = remote.get("detail") or remote.get("error")
            obs["remote_open_refused"] = remote.get("ok") is False and "cannot be recorded" in json.dumps(
                remote
            )
            obs["grants_while_readonly"] = len(run.opens)
            writable_at = time.perf_counter()
            _remount(state, "rw")
            obs["recovered"] = _wait(
                lambda: any(a.get("active") is False for a in _alarms(run.sub, "storage_failure"))
            )
            obs["grants_after_recovery"] = _wait(lambda: any(t > writable_at for t in run.opens))
        finally:
            run.close()
    ok = (
        obs["alarm_direct"]
        and obs["status_reason"] is not None
        and "readonly" in obs["status_reason"]
        and bool(obs["decided_while_readonly"])
        and obs["remote_open_refused"]
        and obs["grants_while_readonly"] == 0
        and obs["recovered"]
        and obs["grants_after_recovery"]
    )
    return Outcome(bool(ok), obs)


def overflow_alarm(workdir: Path) -> Outcome:
    """max_events 100, broker away, 250 alarms: what is dropped is reported by an alarm that outranks
    them all and reaches the subscriber, and it counts every sequence number that never arrives."""
    from edged.app_broker import LocalBroker
    from edged.events.config import MqttConfig
    from edged.events.outbox import Outbox
    from edged.events.payloads import AlarmBody
    from edged.events.stream import EventStream
    from edged.mqtt.client import MqttLink

    broker = LocalBroker()
    broker.start()
    port = broker.port
    config = MqttConfig.model_validate(
        {
            "enabled": True,
            "host": broker.host,
            "port": port,
            "outbox": {"path": str(workdir / "o.sqlite3"), "max_events": 100},
        }
    )
    outbox = Outbox.from_config(config.outbox)
    link = MqttLink(config, DEVICE, outbox)
    link.start()
    obs: dict[str, Any] = {}
    sub: _Subscriber | None = None
    try:
        _wait(lambda: link.connected.is_set())
        broker.stop()
        _wait(lambda: not link.connected.is_set())
        stream = EventStream(DEVICE, outbox)
        for i in range(250):
            stream.emit(AlarmBody(alarm="tailgating", lane="lane-1", detail=f"burst {i}"))
        obs["emitted"] = 250
        obs["dropped_counted"] = outbox.dropped()
        broker = LocalBroker(port)
        broker.start()
        sub = _Subscriber(broker.host, port)  # subscribed before the link's reconnect (backs off >= 1 s)
        obs["drained"] = _wait(lambda: link.connected.is_set() and len(outbox) == 0)
        time.sleep(0.5)
        obs["received"] = len(sub.events())
        obs["loss_reports_received"] = len(_alarms(sub, "outbox_overflow"))
        obs.update(_gap_report(sub))
    finally:
        link.stop()
        outbox.close()
        if sub is not None:
            sub.close()
        broker.stop()
    ok = (
        obs["drained"]
        and obs["loss_reports_received"] >= 1
        and obs["missing_seqs"] > 0
        and obs["missing_seqs"] == obs["loss_report_counts"]
    )
    return Outcome(bool(ok), obs)


def _hits(paths: list[Path], needles: list[bytes]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        if not path.is_file():
            continue
        data = path.read_bytes()
        names = [n.decode() for n in needles if n in data]
        if names:
            found[path.name] = names
    return found


def erase_reaches_stores(workdir: Path) -> Outcome:
    """A person is granted, then erased by a signed MQTT command: afterwards neither the outbox (its
    database, WAL and shared memory), the gallery nor the daemon's log holds their id or name."""
    from datetime import datetime, timezone

    from edged.config.schema import load_config
    from edged.identity.config import IdentityConfig
    from edged.identity.crypto import write_new_key
    from edged.identity.gallery import Gallery, embedder_tag
    from edged.identity.records import NewTemplate, Person

    clip, face = _face_clip(workdir / "walk.avi")
    key_file = workdir / "gallery.key"
    write_new_key(key_file)
    identity = {"database": str(workdir / "gallery.db"), "template_key": {"file": str(key_file)}}
    with Gallery.open(
        IdentityConfig.model_validate(identity), embedder_tag(load_config(None).vision)
    ) as gallery:
        person = Person(ERASE_ID, ERASE_NAME, datetime.now(timezone.utc), "fault scenario")
        gallery.add(person, [NewTemplate(face.embedding)])
    log_path = workdir / "daemon.log"
    handler = logging.FileHandler(log_path)
    handler.setLevel(logging.DEBUG)
    edged_log = logging.getLogger("edged")
    level = edged_log.level
    edged_log.setLevel(logging.DEBUG)
    edged_log.addHandler(handler)
    obs: dict[str, Any] = {}
    outbox_dir = workdir / "state"
    try:
        run = _Run(
            workdir, outbox_dir / "outbox.sqlite3", mode="access", clip=clip, identity=identity, commands=True
        )
        try:
            obs["granted_by_name"] = _wait(
                lambda: any(
                    (e.get("identity") or {}).get("person_id") == ERASE_ID
                    for e in run.sub.events()
                    if e.get("decision") == "granted"
                )
            )
            obs["mode_locked"] = run.send("mode", {"mode": "locked"}).get("ok")  # no passage races the erase
            time.sleep(1.0)
            handler.flush()
            files = [*outbox_dir.glob("outbox.sqlite3*"), log_path]
            needles = [ERASE_ID.encode(), ERASE_NAME.encode()]
            obs["found_before_erase"] = _hits(files, needles)
            answer = run.send("erase", {"person_id": ERASE_ID})
            obs["erase_ok"] = answer.get("ok")
            obs["scrubbed"] = (answer.get("result") or {}).get("outbox_messages_scrubbed")
            handler.flush()
            gallery_files = list(workdir.glob("gallery.db*"))
            files = [*outbox_dir.glob("outbox.sqlite3*"), *gallery_files, log_path]
            obs["found_after_erase"] = _hits(files, needles)
        finally:
            run.close()
    finally:
        edged_log.removeHandler(handler)
        edged_log.setLevel(level)
        handler.close()
    ok = obs["granted_by_name"] and obs["erase_ok"] is True and not obs["found_after_erase"]
    return Outcome(bool(ok), obs)


def empty_gallery_file(workdir: Path) -> Outcome:
    """A 0-byte gallery file (truncated by a full disk, a bad copy) is refused with a clear reason, not
    taken for a new empty gallery; the file is left as it was."""
    from edged.app import StartupError
    from edged.identity.crypto import write_new_key

    key_file = workdir / "gallery.key"
    write_new_key(key_file)
    db = workdir / "gallery.db"
    db.write_bytes(b"")
    identity = {"database": str(db), "template_key": {"file": str(key_file)}}
    obs: dict[str, Any] = {}
    try:
        run = _Run(workdir, workdir / "outbox.sqlite3", mode="access", identity=identity)
    except StartupError as exc:
        obs["refused"] = str(exc)
    else:
        obs["refused"] = None
        run.close()
    obs["size_after"] = db.stat().st_size
    ok = obs["refused"] is not None and "0 bytes" in obs["refused"] and obs["size_after"] == 0
    return Outcome(bool(ok), obs)


def camera_never_starts(workdir: Path) -> Outcome:
    """The camera is not there from the start: the first status over MQTT says so (failing, with the
    camera's own reason), well before the 60 s periodic status; the gate stays in its fail state."""
    missing = workdir / "no-camera-here.avi"
    obs: dict[str, Any] = {}
    run = _Run(workdir, workdir / "outbox.sqlite3", clip=missing)
    try:

        def camera_status() -> list[dict[str, Any]]:
            return [e for e in run.sub.events() if "camera.rgb" in e.get("components", {})]

        obs["reported"] = _wait(camera_status, timeout=20.0)
        first = camera_status()[0] if camera_status() else {}
        obs["health"] = first.get("health")
        obs["camera"] = first.get("components", {}).get("camera.rgb")
        gate = run.daemon.wiring.gate if run.daemon.wiring is not None else None
        obs["gate_mode"] = gate.health().mode if gate is not None else None
    finally:
        run.close()
    ok = (
        obs["reported"]
        and obs["health"] == "failing"
        and isinstance(obs["camera"], str)
        and obs["camera"].startswith("offline")
        and missing.name in obs["camera"]
        and obs["gate_mode"] != "normal"
    )
    return Outcome(bool(ok), obs)


SCENARIOS: list[Scenario] = [
    Scenario("disk_full", "outbox", disk_full),
    Scenario("state_readonly", "outbox", state_readonly),
    Scenario("overflow_alarm", "outbox", overflow_alarm),
    Scenario("erase_reaches_stores", "outbox", erase_reaches_stores),
    Scenario("empty_gallery_file", "outbox", empty_gallery_file),
    Scenario("camera_never_starts", "outbox", camera_never_starts),
]
