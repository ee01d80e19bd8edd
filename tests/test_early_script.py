"""The page's first script (server/early_script.py): written right after ``<head>`` of the page Gradio serves
at ``/``, ahead of Gradio's module scripts, and nowhere else; the browser side is in
``tests/browser/test_editor.py::test_an_idle_tab_asks_for_no_frames_and_a_jobs_timer_still_counts``."""

from __future__ import annotations

import gzip

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from novita_ui.ui.assets.page import EARLY_SCRIPT
from novita_ui.ui.server.early_script import MAX_PAGE, EarlyScript
from tests.apps import offline_app

SCRIPT = "<script>window.first = 1;</script>"
PAGE = b'<!doctype html><html><head><script type="module" src="/assets/index.js"></script></head><body>'


def _app(
    body: bytes, content_type: bytes = b"text/html; charset=utf-8", chunks: int = 1, **headers: bytes
) -> ASGIApp:
    """An ASGI app answering every request with ``body``, sent in ``chunks`` pieces."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        extra = [(name.replace("_", "-").encode(), value) for name, value in headers.items()]
        length = str(len(body)).encode()
        start: Message = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", content_type), (b"content-length", length), *extra],
        }
        await send(start)
        size = -(-len(body) // chunks)
        for i in range(chunks):
            piece = body[i * size : (i + 1) * size]
            await send({"type": "http.response.body", "body": piece, "more_body": i < chunks - 1})

    return app


async def _get(app: ASGIApp, path: str = "/") -> httpx.Response:
    transport = httpx.ASGITransport(app=EarlyScript(app, script=SCRIPT))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        return await client.get(path)


@pytest.mark.parametrize("chunks", [1, 3], ids=["one piece", "three pieces"])
async def test_the_page_gets_the_script_first_in_its_head(chunks: int) -> None:
    answer = await _get(_app(PAGE, chunks=chunks))
    assert answer.text.startswith("<!doctype html><html><head>" + SCRIPT + '<script type="module"')
    assert int(answer.headers["content-length"]) == len(answer.content) == len(PAGE) + len(SCRIPT)


async def test_nothing_but_the_page_is_touched() -> None:
    zipped = gzip.compress(PAGE)
    assert (await _get(_app(PAGE), "/config")).content == PAGE  # another route
    assert (await _get(_app(b'{"head": "<head>"}', b"application/json"))).content == b'{"head": "<head>"}'
    assert (await _get(_app(zipped, content_encoding=b"gzip"))).content == PAGE  # compressed: passed on
    huge = PAGE + b" " * MAX_PAGE
    assert (await _get(_app(huge, chunks=8))).content == huge  # too large to be Gradio's page


def test_the_apps_page_runs_the_script_before_gradios_modules() -> None:
    running = offline_app()
    try:
        page = httpx.get(running.url, timeout=60).text
    finally:
        running.demo.close()
    assert page.count(EARLY_SCRIPT) == 1
    assert page.index("<head>") + len("<head>") == page.index(EARLY_SCRIPT)
    assert page.index(EARLY_SCRIPT) < page.index('type="module"')
