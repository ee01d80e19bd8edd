"""A ``<script>`` placed first in the page's ``<head>``, ahead of Gradio's own modules (an ASGI middleware).

Gradio adds ``launch(head=...)`` to the page only once its modules have run, so a reference they take as
they load (``window.requestAnimationFrame``) cannot be changed from there. This middleware writes the script
into the HTML of ``GET /`` itself, right after ``<head>``. It sits inside :mod:`.pagecache`, which then keeps
the page with the script in it.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEAD = b"<head>"
MAX_PAGE = 4 * 2**20  # Gradio's page is ~150 KB; anything else is passed on as it is


def middleware(script: str) -> Middleware:
    """For ``launch(app_kwargs={"middleware": [...]})``: ``script`` is a whole ``<script>...</script>``."""
    return Middleware(EarlyScript, script=script)


class EarlyScript:
    """Writes ``script`` after the ``<head>`` tag of the page Gradio serves at ``/``."""

    def __init__(self, app: ASGIApp, *, script: str) -> None:
        self.app = app
        self.script = script.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != "/":
            return await self.app(scope, receive, send)
        start: Message | None = None
        chunks: list[bytes] = []

        async def edit(message: Message) -> None:
            nonlocal start
            if start is None and message["type"] == "http.response.start" and _plain_html(message):
                start = message  # held back until the whole page is in
                return
            if start is None or message["type"] != "http.response.body":
                return await send(message)
            chunks.append(message.get("body", b""))
            more, size = message.get("more_body", False), sum(map(len, chunks))
            if more and size <= MAX_PAGE:
                return
            body = b"".join(chunks)
            if size > MAX_PAGE:  # too large to be Gradio's page: passed on unedited
                await send(start)
            else:
                body = body.replace(HEAD, HEAD + self.script, 1)
                await send(_with_length(start, len(body)))
            await send({**message, "body": body})
            start = None
            chunks.clear()

        await self.app(scope, receive, edit)


def _plain_html(start: Message) -> bool:
    """A 200 HTML answer that is not compressed (its bytes can be edited as they are)."""
    headers = {name.lower(): value for name, value in start.get("headers", [])}
    return (
        start["status"] == 200
        and headers.get(b"content-type", b"").startswith(b"text/html")
        and b"content-encoding" not in headers
    )


def _with_length(start: Message, length: int) -> Message:
    headers = [(name, value) for name, value in start.get("headers", []) if name.lower() != b"content-length"]
    return {**start, "headers": [*headers, (b"content-length", str(length).encode())]}
