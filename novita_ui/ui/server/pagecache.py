"""The page, its config and its API description, built once and served from memory (an ASGI middleware).

Gradio builds ``GET /``, ``/config`` and ``/gradio_api/info`` anew for every request: deep copies of the
whole page config, the root URL written into every component, the API page's code snippets: 14-21 ms of
Python holding the GIL each (idle; 32 at once took up to 0.8 s), so while clients connect in a crowd (a
shared demo link, a script's threads) every visitor's page waits (``benchmarks/bench_memory.py``). Served
from here it takes 2 ms. What Gradio builds depends only on the request's URL and query, the headers it
reads the public root from, and the signed-in user, so the response is kept per those for :data:`TTL`
seconds, and a request arriving while the same response is being built waits for it instead of building
it again.

Only complete 200 answers without cookies are kept. It sits inside :class:`~.protect.Protect` (which blanks
the API schema on the anonymous sign-in page on the way out), and with Gradio's ``auth_dependency`` (not
used here) it steps aside, since the user is then unknown to it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from novita_ui.ui.server.protect import signed_in_user

PATHS = frozenset({"/", "/config", "/gradio_api/info"})
TTL = 60.0  # seconds; Gradio's config does not change while the app runs, this only bounds any surprise
ENTRIES = 32  # responses kept (the page is about 150 KB)
MAX_BODY = 4 * 2**20
# The headers Gradio builds the public root URL from (route_utils.get_request_origin, get_root_url).
_ROOT_HEADERS = (b"host", b"x-forwarded-host", b"x-forwarded-proto", b"x-gradio-server")

Key = tuple[Any, ...]


def middleware() -> Middleware:
    """For ``launch(app_kwargs={"middleware": [...]})``, after :func:`.protect.middleware`."""
    return Middleware(PageCache)


class PageCache:
    """Keeps Gradio's answers to :data:`PATHS` per request root, query and user (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, ttl: float = TTL, entries: int = ENTRIES) -> None:
        self.app = app
        self.ttl = ttl
        self.entries = entries
        self._kept: OrderedDict[Key, tuple[float, Message, bytes]] = OrderedDict()
        self._building: dict[Key, asyncio.Event] = {}
        self.builds = 0  # how many answers Gradio built (tests read it)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gradio_app = scope.get("app")
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope["path"] not in PATHS
            or getattr(gradio_app, "auth_dependency", None) is not None
        ):
            return await self.app(scope, receive, send)
        key = _key(scope, signed_in_user(gradio_app, scope))
        building = self._building.get(key)
        if building is not None:  # the same answer is being built: wait for it rather than build it again
            await building.wait()
        kept = self._fresh(key)
        if kept is not None:
            start, body = kept
            await send(_copy(start))  # the layers outside (CORS, Protect) edit the headers in place
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        if key in self._building:  # another request started building meanwhile: not worth a second wait
            return await self.app(scope, receive, send)
        self._building[key] = done = asyncio.Event()
        try:
            await self._build(key, scope, receive, send)
        finally:
            del self._building[key]
            done.set()

    def _fresh(self, key: Key) -> tuple[Message, bytes] | None:
        kept = self._kept.get(key)
        if kept is None:
            return None
        expires, start, body = kept
        if time.monotonic() >= expires:
            del self._kept[key]
            return None
        self._kept.move_to_end(key)
        return start, body

    async def _build(self, key: Key, scope: Scope, receive: Receive, send: Send) -> None:
        """Let Gradio answer, passing each message on as it comes, and keep the answer if it may be kept."""
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        keep = True

        async def record(message: Message) -> None:
            nonlocal start, size, keep
            if message["type"] == "http.response.start":
                start = _copy(message)  # as Gradio sent it, before the layers outside add their headers
                headers = [name.lower() for name, _ in message.get("headers", [])]
                keep = message["status"] == 200 and b"set-cookie" not in headers
            elif message["type"] == "http.response.body" and keep:
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                keep = size <= MAX_BODY
            else:
                keep = False  # trailers, zero-copy sends: not a plain answer
            await send(message)

        self.builds += 1
        await self.app(scope, receive, record)
        if keep and start is not None:
            self._kept[key] = (time.monotonic() + self.ttl, start, b"".join(chunks))
            self._kept.move_to_end(key)
            while len(self._kept) > self.entries:
                self._kept.popitem(last=False)


def _copy(start: Message) -> Message:
    """A response start whose header list can be edited without touching ``start``."""
    return {**start, "headers": list(start.get("headers", []))}


def _key(scope: Scope, user: str | None) -> Key:
    """What Gradio's answer depends on: the URL (path, query, scheme, server, root path), the headers it
    reads the public root from, and the signed-in user (None when signed out or without ``--auth``)."""
    headers: dict[bytes, bytes] = {}
    for name, value in scope.get("headers") or []:
        name = name.lower()
        if name in _ROOT_HEADERS:
            headers.setdefault(name, value)  # Gradio reads the first value
    return (
        scope["path"],
        scope.get("query_string", b""),
        scope.get("scheme"),
        tuple(scope.get("server") or ()),
        scope.get("root_path", ""),
        tuple(headers.get(name, b"") for name in _ROOT_HEADERS),
        user,
    )
