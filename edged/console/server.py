"""Starts the console beside the daemon (uvicorn on its own thread, HTTPS only) and stops it."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edged.config.secrets import SecretError, SecretRef
from edged.console.config import ConsoleConfig
from edged.console.passwords import PasswordHashError, check_hash_format

if TYPE_CHECKING:
    from edged.app import Daemon

log = logging.getLogger(__name__)

START_WAIT_S = 10.0


class ConsoleError(Exception):
    """The console cannot start as configured (one line for the operator)."""


def secret_path(ref: SecretRef) -> Path:
    """A ``{credential:}`` or ``{file:}`` as a file path (TLS libraries read keys from files)."""
    if ref.file is not None:
        return ref.file
    base = os.environ.get("CREDENTIALS_DIRECTORY")
    if not base or ref.credential is None:
        raise ConsoleError(f"console.tls_key from {ref.describe()}: $CREDENTIALS_DIRECTORY is not set")
    return Path(base) / ref.credential


class ConsoleServer:
    def __init__(self, daemon: Daemon, cfg: ConsoleConfig) -> None:
        try:
            import uvicorn

            from edged.console.web import ConsoleWeb
        except ImportError as exc:
            raise ConsoleError(f"the console needs its extra: pip install 'edged[console]' ({exc})") from None
        from edged.console.actions import ConsoleActions
        from edged.console.feed import LiveFeed, describe
        from edged.console.journal import Journal
        from edged.console.sessions import LoginLimiter, SessionStore

        assert cfg.password_hash is not None and cfg.tls_key is not None and cfg.tls_cert is not None
        try:
            stored = cfg.password_hash.read_text()
            check_hash_format(stored)
        except (SecretError, PasswordHashError) as exc:
            raise ConsoleError(f"console.password_hash: {exc}") from None
        key = secret_path(cfg.tls_key)
        for what, path in (("tls_cert", cfg.tls_cert), ("tls_key", key)):
            if not os.access(path, os.R_OK):
                raise ConsoleError(f"console.{what}: cannot read {path}")
        self.cfg = cfg
        self.daemon = daemon
        wiring = daemon.wiring
        thermal = wiring.thermal if wiring is not None and daemon.cfg.thermal.enabled else None
        self.feed = LiveFeed(
            cfg.live_fps,
            tuple(daemon.cfg.policy.facing.region),  # type: ignore[arg-type]
            thermal,
            daemon.cfg.thermal.registration,
        )
        self.journal = Journal(
            cfg.passages_kept, self.feed.crop if daemon.cfg.mqtt.snapshots.enabled else None
        )
        self.web = ConsoleWeb(
            ConsoleActions(daemon, self.feed, self.journal),
            SessionStore(cfg.session_idle_s, cfg.session_max_s, cfg.max_sessions),
            LoginLimiter(cfg.login_failures, cfg.login_window_s, cfg.login_lockout_s),
            stored,
        )
        lane = daemon.lane
        if lane is not None:
            feed = self.feed

            def on_frame(frame: Any, tracks: list[Any]) -> None:
                feed.observe(frame.image, [describe(t, lane.cases.get(t.id)) for t in tracks])

            lane.on_frame = on_frame
        if wiring is not None:
            wiring.events_add_listener(self.journal.on_event)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.web.app,
                host=cfg.host,
                port=cfg.port,
                ssl_certfile=str(cfg.tls_cert),
                ssl_keyfile=str(key),
                log_config=None,  # the daemon's logging; no access log (paths only, but not needed)
                access_log=False,
                timeout_graceful_shutdown=2,
                lifespan="off",
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="console", daemon=True)

    @property
    def port(self) -> int:
        for server in getattr(self._server, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.cfg.port

    def start(self) -> None:
        self._thread.start()
        end = time.monotonic() + START_WAIT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > end:
                raise ConsoleError(f"the console could not listen on {self.cfg.host}:{self.cfg.port}")
            time.sleep(0.02)
        log.info("console on https://%s:%d", self.cfg.host, self.port)

    def stop(self) -> None:
        self.web.closing = True
        if self.daemon.lane is not None:
            self.daemon.lane.on_frame = None
        self._server.should_exit = True
        self._thread.join(timeout=5.0)


def start_console(daemon: Daemon) -> ConsoleServer | None:
    """The running console, or None when ``console.enabled`` is false (the default)."""
    cfg = daemon.cfg.console
    if not cfg.enabled:
        return None
    server = ConsoleServer(daemon, cfg)
    server.start()
    return server
