"""The console's routes (Starlette). Every page and API needs a live session, except the login page,
the login call and the static style and script files; every state-changing request needs the session's
CSRF token in ``X-CSRF-Token`` and a JSON body, and a foreign ``Origin`` is refused."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from edged.config.loader import ConfigError
from edged.console.actions import MAX_PICTURES, ActionError, ConsoleActions
from edged.console.passwords import verify_password
from edged.console.photos import PhotoError, check_upload
from edged.console.sessions import COOKIE, LoginLimiter, Session, SessionStore, csrf_ok

log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024 * 1024  # one uploaded photo (base64) or one config file
MAX_PHOTO = 6 * 1024 * 1024
PAGES = ("live", "passages", "people", "health", "config")
STATIC = {"console.js": "text/javascript", "login.js": "text/javascript", "console.css": "text/css"}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=31536000",
}
SSE_POLL_S = 0.5
SSE_KEEPALIVE_S = 15.0

Handler = Callable[[Request, Session], Awaitable[Response]]


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _asset(name: str) -> str:
    return resources.files("edged.console").joinpath("static").joinpath(name).read_text(encoding="utf-8")


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=HEADERS)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return _json({"error": message, **extra}, status)


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object, read with a size bound; ``Refused`` otherwise."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Refused(415, "send application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise Refused(413, f"body larger than {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refused(413, f"body larger than {MAX_BODY} bytes")
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "body must be a JSON object")
    return data


def _text(data: dict[str, Any], key: str, max_len: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise Refused(400, f"{key}: give text of 1 to {max_len} characters")
    return value.strip()


class ConsoleWeb:
    def __init__(
        self,
        actions: ConsoleActions,
        sessions: SessionStore,
        limiter: LoginLimiter,
        password_hash: str,
    ) -> None:
        self.actions = actions
        self.sessions = sessions
        self.limiter = limiter
        self._password_hash = password_hash
        self.closing = False  # set by the server before it shuts down: live streams end
        routes = [
            Route("/", self.root),
            Route("/login", self.login_page),
            Route("/static/{name}", self.static),
            Route("/api/login", self.login, methods=["POST"]),
            Route("/api/logout", self._guard(self.logout), methods=["POST"]),
            *[Route(f"/{p}", self._guard(self.page, page=True)) for p in PAGES],
            Route("/api/live.jpg", self._guard(self.live_jpeg)),
            Route("/api/live/state", self._guard(self.live_state)),
            Route("/api/passages", self._guard(self.passages)),
            Route("/api/passages/stream", self._guard(self.passage_stream)),
            Route("/api/people", self._guard(self.people)),
            Route("/api/people/picture", self._guard(self.picture), methods=["POST"]),
            Route("/api/people/pictures/clear", self._guard(self.clear_pictures), methods=["POST"]),
            Route("/api/people/enrol", self._guard(self.enrol), methods=["POST"]),
            Route("/api/people/erase", self._guard(self.erase), methods=["POST"]),
            Route("/api/health", self._guard(self.health)),
            Route("/api/config", self._guard(self.config)),
            Route("/api/config/apply", self._guard(self.apply_config), methods=["POST"]),
        ]
        self.app = Starlette(routes=routes)

    # ---- guards -----------------------------------------------------------------------------------
    def _guard(self, handler: Handler, *, page: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            session = self.sessions.get(request.cookies.get(COOKIE))
            if session is None:
                if page:
                    return RedirectResponse("/login", status_code=303, headers=HEADERS)
                return _error(401, "log in first")
            if request.method not in ("GET", "HEAD"):
                if not self._same_origin(request):
                    return _error(403, "request from another origin refused")
                if not csrf_ok(session, request.headers.get("x-csrf-token")):
                    return _error(403, "missing or wrong CSRF token")
            try:
                return await handler(request, session)
            except Refused as exc:
                return _error(exc.status, str(exc))
            except ActionError as exc:
                return _error(409, str(exc))

        return guarded

    @staticmethod
    def _same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        return origin is None or origin == f"https://{request.headers.get('host', '')}"

    @staticmethod
    def _client(request: Request) -> str:
        return request.client.host if request.client is not None else "unknown"

    # ---- login ------------------------------------------------------------------------------------
    async def root(self, request: Request) -> Response:
        logged_in = self.sessions.get(request.cookies.get(COOKIE)) is not None
        return RedirectResponse("/live" if logged_in else "/login", status_code=303, headers=HEADERS)

    async def login_page(self, request: Request) -> Response:
        return Response(_asset("login.html"), media_type="text/html", headers=HEADERS)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return _error(404, "no such file")
        return Response(_asset(name), media_type=STATIC[name], headers=HEADERS)

    async def login(self, request: Request) -> Response:
        client = self._client(request)
        if not self._same_origin(request):
            return _error(403, "request from another origin refused")
        try:
            data = await read_json(request)
        except Refused as exc:
            return _error(exc.status, str(exc))
        password = data.get("password")
        left = self.limiter.locked_for(client)
        if left > 0:
            await run_in_threadpool(self.actions.audit, "login_refused", False, client, None, "locked out")
            return _error(
                429, f"too many wrong passwords: try again in {left:.0f} s", retry_after_s=round(left)
            )
        ok = isinstance(password, str) and await run_in_threadpool(
            verify_password, password, self._password_hash
        )
        if not ok:
            self.limiter.failed(client)
            await run_in_threadpool(self.actions.audit, "login", False, client, None, "wrong password")
            return _error(401, "wrong password")
        self.limiter.succeeded(client)
        session = self.sessions.create(client)
        await run_in_threadpool(self.actions.audit, "login", True, client)
        response = _json({"ok": True, "csrf": session.csrf})
        response.set_cookie(COOKIE, session.token, secure=True, httponly=True, samesite="strict", path="/")
        return response

    async def logout(self, request: Request, session: Session) -> Response:
        self.sessions.end(session.token)
        await run_in_threadpool(self.actions.audit, "logout", True, session.client)
        response = _json({"ok": True})
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return response

    # ---- pages ------------------------------------------------------------------------------------
    async def page(self, request: Request, session: Session) -> Response:
        name = request.url.path.strip("/")
        html = _asset("page.html").replace("{{page}}", name).replace("{{csrf}}", session.csrf)
        html = html.replace("{{body}}", _asset(f"{name}.html"))
        return Response(html, media_type="text/html", headers=HEADERS)

    # ---- live -------------------------------------------------------------------------------------
    async def live_jpeg(self, request: Request, session: Session) -> Response:
        frame = request.query_params.get("frame", "")
        seq = int(frame) if frame.isdigit() and len(frame) < 12 else None
        data = await run_in_threadpool(self.actions.feed.jpeg, seq)
        if data is None:
            return _error(503, "no frame from the camera yet")
        return Response(data, media_type="image/jpeg", headers=HEADERS)

    async def live_state(self, request: Request, session: Session) -> Response:
        return _json(await run_in_threadpool(self.actions.feed.state))

    # ---- passages ---------------------------------------------------------------------------------
    async def passages(self, request: Request, session: Session) -> Response:
        return _json({"passages": await run_in_threadpool(self.actions.journal.passages_after, 0)})

    async def passage_stream(self, request: Request, session: Session) -> Response:
        after = request.query_params.get("after", "0")
        last = int(after) if after.isdigit() else 0
        token = session.token

        async def events() -> Any:
            nonlocal last
            quiet = 0.0
            while not self.closing and self.sessions.alive(token):
                for p in await run_in_threadpool(self.actions.journal.passages_after, last):
                    last = p["seq"]
                    yield f"id: {last}\ndata: {json.dumps(p, default=str)}\n\n"
                    quiet = 0.0
                if quiet >= SSE_KEEPALIVE_S:
                    yield ": keep-alive\n\n"
                    quiet = 0.0
                if await request.is_disconnected():
                    return
                await asyncio.sleep(SSE_POLL_S)
                quiet += SSE_POLL_S

        headers = dict(HEADERS, **{"X-Accel-Buffering": "no"})
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    # ---- people -----------------------------------------------------------------------------------
    async def people(self, request: Request, session: Session) -> Response:
        people = await run_in_threadpool(self.actions.people)
        return _json({"people": people, "pictures": len(session.pictures)})

    async def picture(self, request: Request, session: Session) -> Response:
        data = await read_json(request)
        if len(session.pictures) >= MAX_PICTURES:
            raise Refused(409, f"already {MAX_PICTURES} pictures: enrol, or clear them")
        if data.get("source") == "camera":
            photo = await run_in_threadpool(self.actions.camera_picture)
            label = "camera picture"
        else:
            raw = data.get("photo_b64")
            if not isinstance(raw, str) or len(raw) > MAX_PHOTO * 4 // 3 + 4:
                raise Refused(400, f"photo_b64: give a base64 image of at most {MAX_PHOTO} bytes")
            try:
                photo = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise Refused(400, "photo_b64 is not base64") from None
            try:
                check_upload(photo)
            except PhotoError as exc:
                raise Refused(400, f"photo refused: {exc}") from None
            label = "uploaded photo"
        label = f"{label} {len(session.pictures) + 1}"
        result, embedding = await run_in_threadpool(
            self.actions.check_picture, photo, label, list(session.embeddings)
        )
        if result["ok"] and embedding is not None:
            session.pictures.append(photo)
            session.embeddings.append(embedding)
        return _json({"picture": result, "pictures": len(session.pictures)})

    async def clear_pictures(self, request: Request, session: Session) -> Response:
        await read_json(request)
        session.pictures.clear()
        session.embeddings.clear()
        return _json({"pictures": 0})

    async def enrol(self, request: Request, session: Session) -> Response:
        data = await read_json(request)
        person_id = _text(data, "person_id", 128)
        name = _text(data, "name", 200)
        try:
            result = await run_in_threadpool(self.actions.enrol, person_id, name, list(session.pictures))
        except ActionError as exc:
            await run_in_threadpool(self.actions.audit, "enrol", False, session.client, person_id, str(exc))
            raise
        session.pictures.clear()
        session.embeddings.clear()
        await run_in_threadpool(
            self.actions.audit, "enrol", True, session.client, person_id, f"{result['templates']} templates"
        )
        return _json(result)

    async def erase(self, request: Request, session: Session) -> Response:
        data = await read_json(request)
        person_id = _text(data, "person_id", 128)
        try:
            receipt = await run_in_threadpool(self.actions.erase, person_id)
        except ActionError as exc:
            await run_in_threadpool(self.actions.audit, "erase", False, session.client, person_id, str(exc))
            raise
        await run_in_threadpool(self.actions.audit, "erase", True, session.client, person_id)
        return _json({"receipt": receipt})

    # ---- health and config ------------------------------------------------------------------------
    async def health(self, request: Request, session: Session) -> Response:
        return _json(await run_in_threadpool(self.actions.health))

    async def config(self, request: Request, session: Session) -> Response:
        return _json(await run_in_threadpool(self.actions.config))

    async def apply_config(self, request: Request, session: Session) -> Response:
        data = await read_json(request)
        text = data.get("text")
        if not isinstance(text, str):
            raise Refused(400, "text: give the whole config file")
        target = str(self.actions.daemon.config_path)
        try:
            result = await run_in_threadpool(self.actions.apply_config, text)
        except ConfigError as exc:
            errors = str(exc).splitlines()
            await run_in_threadpool(
                self.actions.audit, "config_refused", False, session.client, target, "; ".join(errors)
            )
            return _error(422, "config refused, the running one is kept", errors=errors)
        except ActionError as exc:
            await run_in_threadpool(
                self.actions.audit, "config_refused", False, session.client, target, str(exc)
            )
            raise
        await run_in_threadpool(
            self.actions.audit, "config_applied", bool(result["applied"]), session.client, target
        )
        return _json(result)
