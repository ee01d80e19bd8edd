"""A crowd of clients connecting at once: the page, its config and its API description are built once, never
served to the wrong visitor (another public address, another user, a signed-out cookie) and never kept when
they should not be; each new session copies the page's component configs instead of building them (issue 13:
GET / stayed over 0.5 s while 32 clients connected; ``benchmarks/bench_memory.py`` measures it)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gradio as gr
import httpx
import pytest
from starlette.types import Receive, Scope, Send

from novita_ui.ui.server.pagecache import PageCache
from tests.apps import PASSWORD, USER, offline_app, sign_in


def _page_cache(demo: gr.Blocks) -> PageCache:
    """The running app's PageCache (Starlette builds its middleware chain on the first request)."""
    layer: Any = demo.server_app.middleware_stack
    while layer is not None and not isinstance(layer, PageCache):
        layer = getattr(layer, "app", None)
    assert layer is not None, "the app runs without its page cache"
    return layer


def _config(page: str) -> dict[str, Any]:
    """The config Gradio embeds in the page (``window.gradio_config = {...};``)."""
    found = re.search(r"window\.gradio_config = (\{.*?\});</script>", page, re.DOTALL)
    assert found, "the page embeds its config"
    config: dict[str, Any] = json.loads(found.group(1))
    return config


@pytest.fixture(scope="module")
def open_app() -> Iterator[tuple[gr.Blocks, str]]:
    running = offline_app()
    demo, url = running.demo, running.url
    yield demo, url
    demo.close()


def test_a_crowd_opening_the_page_at_once_gets_it_built_once(open_app):
    demo, url = open_app
    with httpx.Client(timeout=60) as client:
        client.get(url + "gradio_api/info")  # the middleware chain exists from here on
        cache = _page_cache(demo)
        before = cache.builds
        with ThreadPoolExecutor(32) as pool:  # a query no other test sends: nothing is kept for it yet
            pages = list(pool.map(lambda _: client.get(url + "?crowd=1"), range(32)))
            configs = list(pool.map(lambda _: client.get(url + "config?crowd=1"), range(32)))
    assert {p.status_code for p in pages + configs} == {200}
    assert len({p.content for p in pages}) == 1 and len({c.content for c in configs}) == 1
    assert cache.builds - before == 2, "the page and the config were not built once each for the crowd"
    assert "/erase" in pages[0].text  # the whole page, API description included
    assert configs[0].json()["components"], "the config lists the page's components"


def test_each_public_address_gets_the_page_with_its_own_root(open_app):
    _, url = open_app
    proxied = {"x-forwarded-host": "demo.example.com"}
    with httpx.Client(timeout=60) as client:
        direct = [_config(client.get(url).text)["root"] for _ in range(2)]
        via_proxy = _config(client.get(url, headers=proxied).text)["root"]
        config_via_proxy = client.get(url + "config", headers=proxied).json()["root"]
        direct.append(_config(client.get(url).text)["root"])
    assert direct == [url.rstrip("/")] * 3
    assert via_proxy == config_via_proxy == "http://demo.example.com"


def test_a_kept_page_carries_no_header_another_request_was_answered_with(open_app):
    """Gradio's CORS layer (outside the cache) adds the caller's Origin to each answer it passes on."""
    _, url = open_app
    with httpx.Client(timeout=60) as client:
        for path in ("?cors=1", "config?cors=1"):
            first = client.get(url + path, headers={"origin": "http://localhost:5173"})
            assert first.headers.get("access-control-allow-origin") == "http://localhost:5173"
            later = client.get(url + path)  # from the cache
            assert later.content == first.content
            assert "access-control-allow-origin" not in later.headers, "another caller's CORS origin"
            other = client.get(url + path, headers={"origin": "http://localhost:3000"})
            assert other.headers.get_list("access-control-allow-origin") == ["http://localhost:3000"]


def test_with_auth_a_kept_page_never_reaches_another_user_or_a_signed_out_cookie():
    running = offline_app(auth=(USER, PASSWORD))
    demo, url = running.demo, running.url
    try:
        with httpx.Client(timeout=30) as ann, httpx.Client(timeout=30) as stranger:
            assert sign_in(ann, url).status_code == 200
            for _ in range(2):  # the second answer of each comes from the cache
                page = ann.get(url).text
                assert "/erase" in page and _config(page)["username"] == USER
                assert ann.get(url + "config").json()["username"] == USER
                assert ann.get(url + "gradio_api/info").status_code == 200
                sign_in_page = stranger.get(url)
                assert "auth_required" in sign_in_page.text and "/erase" not in sign_in_page.text
                assert _config(sign_in_page.text).get("username") is None
                assert stranger.get(url + "config").status_code == 401
                assert stranger.get(url + "gradio_api/info").status_code == 401
            cookies = dict(ann.cookies)
            ann.get(url + "logout")
        with httpx.Client(timeout=30, cookies=cookies) as old_cookie:  # signed out: the token is void
            signed_out = old_cookie.get(url)
            assert "auth_required" in signed_out.text and "/erase" not in signed_out.text
            assert old_cookie.get(url + "config").status_code == 401
    finally:
        demo.close()


def test_a_new_session_starts_with_the_configs_gradio_builds_and_edits_only_its_own(open_app):
    from gradio.state_holder import SessionState

    demo, _ = open_app
    gradio_built = object.__new__(SessionState)
    SessionState.__init__.gradio_init(gradio_built, demo)  # type: ignore[attr-defined]
    first, second = SessionState(demo), SessionState(demo)
    assert vars(first).keys() == vars(gradio_built).keys()
    for session in (first, second):
        assert session.config_values == gradio_built.config_values
        assert (session.state_data, session.is_closed) == ({}, False)
    key = next(k for k, c in first.config_values.items() if "value" in c.get("props", {}))
    first._update_value_in_config(key, "this tab's value")
    assert second.config_values[key]["props"]["value"] != "this tab's value"
    assert SessionState(demo).config_values == gradio_built.config_values


class _Gradio:
    """A stand-in for Gradio behind the cache: counts builds, answers with ``status`` and ``headers``."""

    def __init__(self, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status, self.headers, self.builds = status, headers or [], 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.builds += 1
        await asyncio.sleep(0.01)  # a build takes a while: requests arriving meanwhile wait for it
        body = f"{scope['path']} #{self.builds}".encode()
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": body})


async def _get(cache: PageCache, *paths: str) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=cache)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        return list(await asyncio.gather(*(client.get(p) for p in paths)))


@pytest.mark.parametrize(
    "status, headers",
    [(401, []), (500, []), (200, [(b"set-cookie", b"token=abc")])],
    ids=["refused", "failed", "sets-a-cookie"],
)
async def test_an_answer_that_is_not_a_plain_page_is_never_kept(status, headers):
    gradio = _Gradio(status, headers)
    answers = await _get(PageCache(gradio), "/") + await _get(PageCache(gradio), "/")
    assert [a.text for a in answers] == ["/ #1", "/ #2"]


async def test_kept_answers_expire_and_are_bounded_and_other_routes_pass_through():
    gradio = _Gradio()
    cache = PageCache(gradio, ttl=60, entries=1)
    assert [a.text for a in await _get(cache, "/", "/")] == ["/ #1", "/ #1"]
    assert [a.text for a in await _get(cache, "/config")] == ["/config #2"]
    assert [a.text for a in await _get(cache, "/")] == ["/ #3"]  # one entry: "/" gave way to "/config"
    assert [a.text for a in await _get(cache, "/gradio_api/upload")] == ["/gradio_api/upload #4"]
    expiring = PageCache(gradio, ttl=0)
    assert [a.text for a in await _get(expiring, "/")] == ["/ #5"]
    assert [a.text for a in await _get(expiring, "/")] == ["/ #6"]
