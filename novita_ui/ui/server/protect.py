"""What Gradio's ``auth=`` leaves open, closed by one ASGI middleware (given to ``launch(app_kwargs=...)``):

- Routes without a login check: ``/gradio_api/heartbeat/<session>`` (dropping it ends that session, and the
  app's unload handler then deletes its files), ``/cancel``, ``/stream/...``, ``/reset``.
  With ``--auth``, every route needs the sign-in except the few the sign-in page itself uses (:data:`OPEN`).
- The anonymous sign-in page embeds the whole API schema (``window.gradio_api_info``); Gradio has no
  setting for that, so the page is sent with ``null`` there.
- Gradio mounts its MCP route (``--mcp``) outside its sign-in. MCP clients cannot use the sign-in cookie, so
  on that route the same user and password are accepted as HTTP Basic credentials, throttled like ``/login``.
- ``/login`` has no throttling: each attempt goes through
  :class:`~novita_ui.ui.server.throttle.LoginThrottle` (per user name and per client address), and a
  locked-out attempt gets HTTP 429 with when to try again.

It reads three Gradio internals: ``app.auth`` (is a sign-in required), ``app.tokens`` and ``app.cookie_id``
(the session cookie ``access-token[-unsecure]-<cookie_id>``, as Gradio's own ``get_current_user`` reads it).
Without ``--auth`` it passes everything through. Session isolation without a sign-in rests on the scratch
folders' names (``scratch.ScratchSpace.folder_name``): no URL shows a session id.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from novita_ui.ui.server.throttle import LoginThrottle

# Paths served without a sign-in: the sign-in page, its assets, and routes that check the sign-in themselves.
OPEN = frozenset(
    {
        "/",
        "/login",
        "/logout",
        "/config",
        "/favicon.ico",
        "/manifest.json",
        "/robots.txt",
        "/theme.css",
        "/gradio_api/theme.css",
        "/gradio_api/info",
        "/gradio_api/login_check",
        "/gradio_api/startup-events",  # launch() calls it itself; it runs the app's start-up once, no session
    }
)
# Gradio's MCP server (--mcp): streamable HTTP here, SSE at /sse, /messages, /schema below it.
MCP_PATH = "/gradio_api/mcp"
MCP_SIGN_IN = (
    "Sign-in required: send the app's --auth user and password as HTTP Basic credentials "
    "(header Authorization: Basic <base64 of user:password>)."
)
OPEN_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")
_API_INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.DOTALL)
_MAX_LOGIN_BODY = 64 * 1024


def middleware(throttle: LoginThrottle | None = None) -> Middleware:
    """:class:`Protect` for ``launch(app_kwargs={"middleware": [...]})``; a fresh throttle unless given."""
    return Middleware(Protect, throttle=throttle or LoginThrottle())


def app_kwargs(throttle: LoginThrottle | None = None) -> dict[str, Any]:
    """``launch(app_kwargs=...)`` that installs :class:`Protect` alone."""
    return {"middleware": [middleware(throttle)]}


class Protect:
    """Sign-in on every route but :data:`OPEN`, a throttled ``/login``, no schema for anonymous pages."""

    def __init__(self, app: ASGIApp, *, throttle: LoginThrottle) -> None:
        self.app = app
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gradio_app = scope.get("app")
        if scope["type"] != "http" or getattr(gradio_app, "auth", None) is None:
            return await self.app(scope, receive, send)
        path = scope["path"].rstrip("/") or "/"
        if path == "/login" and scope["method"] == "POST":
            return await self._login(scope, receive, send)
        if signed_in_user(gradio_app, scope) is not None:
            return await self.app(scope, receive, send)
        if path == MCP_PATH or path.startswith(MCP_PATH + "/"):
            return await self._mcp(gradio_app, scope, receive, send)
        if path == "/":
            return await self.app(scope, receive, _without_api_info(send))
        if path in OPEN or path.startswith(OPEN_PREFIXES):
            return await self.app(scope, receive, send)
        await _json(send, 401, {"detail": "Not authenticated: sign in first."})

    async def _mcp(self, gradio_app: Any, scope: Scope, receive: Receive, send: Send) -> None:
        """MCP clients cannot hold the sign-in cookie: they send it as HTTP Basic, throttled alike."""
        credentials = basic_credentials(dict(scope.get("headers") or []).get(b"authorization", b""))
        if credentials is None:
            return await _json(send, 401, {"detail": MCP_SIGN_IN}, {"www-authenticate": 'Basic realm="mcp"'})
        user, password = credentials
        address = scope["client"][0] if scope.get("client") else "unknown"
        wait = self.throttle.start(user, address)
        if wait > 0:
            headers = {"retry-after": str(int(wait) + 1)}
            return await _json(send, 429, {"detail": LoginThrottle.message(wait)}, headers)
        if not password_ok(gradio_app.auth, user, password):
            return await _json(send, 401, {"detail": MCP_SIGN_IN}, {"www-authenticate": 'Basic realm="mcp"'})
        self.throttle.succeeded(user, address)
        await self.app(scope, receive, send)

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:
            return await _json(send, 413, {"detail": "The sign-in request is too large."})
        form = await Request(scope, _replay(body, receive)).form()
        user = str(form.get("username") or "").strip()
        address = scope["client"][0] if scope.get("client") else "unknown"
        wait = self.throttle.start(user, address)
        if wait > 0:
            headers = {"retry-after": str(int(wait) + 1)}
            return await _json(send, 429, {"detail": LoginThrottle.message(wait)}, headers)
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, _replay(body, receive), watch)
        if status == 200:
            self.throttle.succeeded(user, address)


def basic_credentials(header: bytes) -> tuple[str, str] | None:
    """``Basic <base64 of user:password>`` -> (user, password); None for anything else."""
    scheme, _, encoded = header.partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, ValueError):
        return None
    return (user, password) if sep and user else None


def password_ok(auth: Any, user: str, password: str) -> bool:
    """Check against Gradio's own ``app.auth``: a {user: password} dict (compared in constant time) or a
    callable."""
    if callable(auth):
        return bool(auth(user, password))
    expected = auth.get(user) if isinstance(auth, dict) else None
    return expected is not None and secrets.compare_digest(password.encode(), str(expected).encode())


def signed_in_user(gradio_app: Any, scope: Scope) -> str | None:
    """The user whose sign-in cookie the request carries, as Gradio's ``get_current_user`` reads it; None
    when signed out (or without ``--auth``: Gradio then hands out no tokens)."""
    cookies = Request(scope).cookies
    cookie_id = getattr(gradio_app, "cookie_id", "")
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    user = getattr(gradio_app, "tokens", {}).get(token) if token else None
    return None if user is None else str(user)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None past the limit (a sign-in form is a few hundred bytes)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > _MAX_LOGIN_BODY:
            return None
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the buffered body once, then waits on the real one (for disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _without_api_info(send: Send) -> Send:
    """A ``send`` that holds the page back and blanks ``window.gradio_api_info`` in it."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            return await send(message)
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        page = _API_INFO.sub(b"window.gradio_api_info = null;</script>", b"".join(chunks))
        headers = MutableHeaders(scope=start)
        headers["content-length"] = str(len(page))
        await send(start)
        await send({"type": "http.response.body", "body": page, "more_body": False})

    return wrapped


async def _json(send: Send, status: int, content: Any, headers: dict[str, str] | None = None) -> None:
    body = json.dumps(content).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
