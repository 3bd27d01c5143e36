"""What the console reads from and changes in the running daemon. Every change goes through the code the
CLI and MQTT commands use: enrolment through ``Enroller.enroll`` (as ``edged enroll``), erasure through
``DaemonCommands.erase`` (as the MQTT ``erase`` command), a config change through the daemon's reload
(as SIGHUP). Each change, and each login, is published as an ``audit`` event."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from edged.config.loader import ConfigError, validate_text
from edged.config.schema import EdgedConfig

if TYPE_CHECKING:
    from edged.app import Daemon
    from edged.console.feed import LiveFeed
    from edged.console.journal import Journal

log = logging.getLogger(__name__)

MAX_PICTURES = 5
MIN_PICTURES = 3
MAX_CONFIG_BYTES = 256 * 1024
RELOAD_WAIT_S = 10.0


class ActionError(Exception):
    """A request the console refuses; the message is shown to the operator as it is."""


class ConsoleActions:
    def __init__(self, daemon: Daemon, feed: LiveFeed, journal: Journal) -> None:
        self.daemon = daemon
        self.feed = feed
        self.journal = journal

    # ---- audit ------------------------------------------------------------------------------------
    def audit(self, action: str, ok: bool, client: str, target: str | None = None, detail: str = "") -> None:
        payload: dict[str, Any] = {"action": action, "ok": ok, "client": client[:64], "detail": detail[:500]}
        if target is not None:
            payload["target"] = target[:128]
        self.daemon.publish("console.audit", payload)

    # ---- people -----------------------------------------------------------------------------------
    def _gallery(self) -> Any:
        gallery = getattr(self.daemon.wiring.identity if self.daemon.wiring else None, "gallery", None)
        if gallery is None:
            raise ActionError("no gallery is open on this unit")
        return gallery

    def people(self) -> list[dict[str, Any]]:
        """Who is enrolled, with their template count; never the templates themselves."""
        gallery = self._gallery()
        out = []
        for p in gallery.store.list_people():
            entry = p.to_json()
            entry["templates"] = len(gallery.store.template_ids(p.person_id))
            out.append(entry)
        return out

    def _enroller(self) -> Any:
        from edged.identity.enrollment import Enroller

        if self.daemon.pipeline is None:
            raise ActionError("the daemon is not running yet")
        return Enroller(self.daemon.pipeline, self._gallery(), self.daemon.cfg.identity.enrollment)

    def camera_picture(self) -> bytes:
        image = self.feed.latest_image()
        if image is None:
            raise ActionError("no frame from the gate camera yet")
        ok, buf = cv2.imencode(".png", image)
        if not ok:
            raise ActionError("the camera frame could not be encoded")
        return buf.tobytes()

    def check_picture(
        self, data: bytes, source: str, kept: list[np.ndarray]
    ) -> tuple[dict[str, Any], np.ndarray | None]:
        """The enrolment check of one picture (size, sharpness, pose, liveness, as ``edged enroll``), and
        two more at a gate where anyone may walk by: the face is nobody already enrolled, and it is the
        same person as the pictures ``kept`` so far. Returns the feedback and the face's embedding."""
        check = self._enroller().check(data, source)
        result: dict[str, Any] = check.to_json()
        face = check.face
        if face is None or face.embedding is None:
            return result, None
        threshold = self.daemon.cfg.vision.match_threshold
        reasons = list(result["reasons"])
        identity = self.daemon.wiring.identity if self.daemon.wiring else None
        hit = identity.search(face.embedding) if identity is not None else None
        if hit is not None and hit.similarity >= threshold:
            reasons.append(f"already enrolled as {hit.person_id}")
        if kept:
            least = min(float(np.dot(face.embedding, k)) for k in kept)
            if least < threshold:
                reasons.append(f"not the person of the pictures kept (similarity {least:.2f})")
        result["reasons"], result["ok"] = reasons, check.ok and not reasons
        return result, np.asarray(face.embedding, np.float32)

    def enrol(self, person_id: str, name: str, pictures: list[bytes]) -> dict[str, Any]:
        from edged.identity.enrollment import EnrollmentError
        from edged.identity.records import Person, RecordError
        from edged.identity.store import DuplicatePersonError

        if not MIN_PICTURES <= len(pictures) <= MAX_PICTURES:
            raise ActionError(f"{len(pictures)} pictures: take or upload {MIN_PICTURES} to {MAX_PICTURES}")
        try:
            person = Person(person_id, name, datetime.now(timezone.utc), "operator console")
        except RecordError as exc:
            raise ActionError(str(exc)) from None
        enroller = self._enroller()
        with tempfile.TemporaryDirectory(prefix="edged-console-") as tmp:
            paths = []
            for n, data in enumerate(pictures, 1):
                path = Path(tmp) / f"picture-{n}"
                path.write_bytes(data)
                paths.append(path)
            try:
                done = enroller.enroll(person, paths)
            except (EnrollmentError, DuplicatePersonError) as exc:
                raise ActionError(str(exc).replace(tmp + os.sep, "")) from None
        result: dict[str, Any] = done.to_json()
        for photo in result["photos"]:
            photo["photo"] = Path(photo["photo"]).name
        return result

    def erase(self, person_id: str) -> dict[str, Any]:
        from edged.app_control import DaemonCommands
        from edged.mqtt.command_models import EraseArgs
        from edged.mqtt.dispatch import CommandFailed

        try:
            return DaemonCommands(self.daemon).erase(EraseArgs(person_id=person_id))
        except (CommandFailed, ValueError) as exc:
            raise ActionError(str(exc)) from None

    # ---- health -----------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        d = self.daemon
        cameras: dict[str, Any] = {}
        thermal = getattr(d.wiring.thermal, "capture", None) if d.wiring else None
        for name, sup in (("rgb", d.capture), ("thermal", thermal)):
            if sup is not None:
                cameras[name] = {
                    "state": sup.status.state,
                    "reason": sup.status.reason,
                    "delivered": sup.delivered,
                    "dropped": sup.dropped,
                    "reconnects": sup.reconnects,
                }
        gate: dict[str, Any] = {}
        broker: dict[str, Any] = {"enabled": d.cfg.mqtt.enabled}
        if d.wiring is not None:
            h = d.wiring.gate.health()
            gate = {"driver": h.driver, "ok": h.ok, "mode": h.mode, "link_up": h.link_up}
            link = d.wiring.mqtt
            if link is not None:
                broker.update(
                    connected=link.connected.is_set(),
                    host=f"{d.cfg.mqtt.host}:{d.cfg.mqtt.port}",
                    outbox_depth=len(link.outbox),
                )
        decision = d.latency.summary().get("decision", {})
        return {
            "lane": d.cfg.lane,
            "mode": d.cfg.policy.mode,
            "cameras": cameras,
            "gate": gate,
            "broker": broker,
            "engine": {
                "type": d.cfg.engine.type,
                "providers": list(getattr(d.cfg.engine, "providers", [])),
                "models_dir": str(d.cfg.models.dir or "default"),
            },
            "models": self._models(),
            "models_loaded": d.pipeline is not None,
            "frames": d.lane.frames if d.lane is not None else 0,
            "decision_latency_ms": decision,
            "stale_threads": d.heartbeats.stale(),
            "reloads": {"applied": d.reloads, "rejected": d.rejected_reloads},
            "live_frames_rendered": self.feed.rendered,
            "last_faults": self.journal.last_faults()[-10:],
        }

    def _models(self) -> dict[str, str]:
        """The pinned models (sha256 checked at load) and the optional heads, as loaded."""
        from edged.models import PINNED

        pipeline = self.daemon.pipeline
        if pipeline is None:
            return {}
        out = {name: f"sha256 {digest[:12]}…" for name, digest in sorted(PINNED.items())}
        out["mask classifier"] = "loaded" if pipeline.mask_classifier is not None else "off"
        out["masked-face head"] = "loaded" if pipeline.masked_embedder is not None else "off"
        return out

    # ---- config -----------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        path = self.daemon.config_path
        if path is None:
            return {"file": None, "text": "", "check": ["the daemon runs on built-in defaults: no file"]}
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            return {"file": str(path), "text": "", "check": [f"cannot read: {exc.strerror}"]}
        try:
            validate_text(EdgedConfig, text, str(path))
            check: list[str] = []
        except ConfigError as exc:
            check = str(exc).splitlines()
        return {"file": str(path), "text": text, "check": check}

    def apply_config(self, text: str) -> dict[str, Any]:
        """Validate ``text`` as ``check-config`` does; if valid, replace the file and reload as SIGHUP does
        (the daemon keeps the running config if the reload fails). Raises ``ConfigError`` if invalid."""
        path = self.daemon.config_path
        if path is None:
            raise ActionError("the daemon runs on built-in defaults: there is no config file to change")
        if len(text.encode()) > MAX_CONFIG_BYTES:
            raise ActionError(f"config larger than {MAX_CONFIG_BYTES} bytes")
        validate_text(EdgedConfig, text, str(path))
        tmp = path.with_name(f".{path.name}.console-tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            if path.exists():
                os.chmod(tmp, path.stat().st_mode & 0o777)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ActionError(f"cannot write {path}: {exc.strerror}") from None
        before = (self.daemon.reloads, self.daemon.rejected_reloads)
        self.daemon.request_reload()
        end = time.monotonic() + RELOAD_WAIT_S
        while time.monotonic() < end:
            now = (self.daemon.reloads, self.daemon.rejected_reloads)
            if now != before:
                return {"applied": now[0] > before[0], "reloads": now[0], "rejected": now[1]}
            time.sleep(0.05)
        raise ActionError("the file is written, but the daemon did not reload within 10 s")
