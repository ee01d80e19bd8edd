"""A running app attacked over plain HTTP: sessions cannot touch each other, ``--auth`` covers every route
that can change or reveal a session, and wrong passwords are throttled (issue 13, findings 3 and 7)."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote, urlparse

import gradio as gr
import httpx
import pytest

from novita_ui.ui.server.throttle import LoginThrottle
from tests.apps import PASSWORD, USER, offline_app, sign_in
from tests.images import encode, photo_like


def _launch(auth: tuple[str, str] | None = None, **overrides: Any) -> tuple[gr.Blocks, str]:
    """Kept for older tests: new ones use tests.apps.offline_app (a record with .demo and .url)."""
    running = offline_app(auth=auth, **overrides)
    return running.demo, running.url


@pytest.fixture(scope="module")
def open_app() -> Iterator[str]:
    demo, url = _launch()
    yield url
    demo.close()


@pytest.fixture(scope="module")
def signed_app() -> Iterator[str]:
    demo, url = _launch(auth=(USER, PASSWORD))
    yield url
    demo.close()


def _open_tab(client: httpx.Client, url: str) -> tuple[str, list[str]]:
    """What a browser tab does when a photo is dropped: upload it, run the page's load event under a fresh
    session id. Returns the session id and the file URLs the page got back."""
    config = client.get(url + "config").json()
    sink = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "photo-sink")
    event = next(d for d in config["dependencies"] if [sink, "upload"] in d["targets"])
    while not event["backend_fn"]:  # the page's own step first (it stamps the action), then the server's
        event = next(d for d in config["dependencies"] if d.get("trigger_after") == event["id"])
    photo = encode(photo_like(64, 48))
    upload = client.post(url + "gradio_api/upload", files={"files": ("photo.jpg", photo)})
    session = secrets.token_hex(6)
    file = {"path": upload.json()[0], "orig_name": "photo.jpg", "meta": {"_type": "gradio.FileData"}}
    # The event may take more inputs (the session's state, settings): the page sends null for those.
    data = [file if component == sink else None for component in event["inputs"]]
    body = {"data": data, "fn_index": event["id"], "session_hash": session, "trigger_id": sink}
    assert client.post(url + "gradio_api/queue/join", json=body).status_code == 200
    with client.stream("GET", url + "gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            message = json.loads(line[5:]) if line.startswith("data:") else {}
            if message.get("msg") == "process_completed":
                assert message["success"], message
                urls = re.findall(r'"url": "([^"]+)"', json.dumps(message["output"]))
                assert urls, "the tab got its photo back"
                return session, sorted(set(urls))
    raise AssertionError("the load event never completed")


def _drop_heartbeat(client: httpx.Client, url: str, session: str) -> int:
    """Open the session's heartbeat and hang up, as a closing tab does; returns the HTTP status."""
    with client.stream("GET", f"{url}gradio_api/heartbeat/{session}") as stream:
        if stream.status_code == 200:
            next(stream.iter_lines())  # connected: hanging up now ends that session
        return stream.status_code


def _served(client: httpx.Client, file_url: str) -> bool | None:
    """True while the file is served, False once it is gone (403/404), None when the server broke off
    (Gradio answers with a reset when the file goes between its checks)."""
    try:
        status = client.get(file_url).status_code
    except httpx.TransportError:
        return None
    return True if status == 200 else False if status in (403, 404) else None


def _until(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_stranger_cannot_end_another_session_with_what_its_urls_show(open_app):
    url = open_app
    with httpx.Client(timeout=30) as owner, httpx.Client(timeout=30) as stranger:
        session, files = _open_tab(owner, url)
        other_session, other_files = _open_tab(owner, url)
        assert all(session not in unquote(u) for u in files), "a file URL shows the session id"
        # The stranger sees a result URL and tries each of its parts as a session id.
        for part in {p for u in files for p in unquote(urlparse(u).path).split("/") if p}:
            _drop_heartbeat(stranger, url, part)
        # Then a real tab closes: its files go (so the unload handler really runs)...
        _drop_heartbeat(owner, url, other_session)
        assert _until(lambda: all(_served(owner, u) is False for u in other_files))
        # ...while the first tab, still open, keeps every file.
        assert all(_served(owner, u) for u in files)


# Routes Gradio serves without its login check; each can end, cancel or feed another session's work.
SESSION_ROUTES = [
    ("GET", "gradio_api/heartbeat/abc123"),
    ("POST", "gradio_api/cancel"),
    ("POST", "gradio_api/reset"),
    ("POST", "gradio_api/stream/some-event/close"),
]


_sign_in = sign_in  # the old name, for older tests


def test_with_auth_every_session_route_needs_the_sign_in(signed_app):
    url = signed_app
    with httpx.Client(timeout=30) as anonymous:
        for method, route in SESSION_ROUTES:
            answer = anonymous.request(method, url + route, json={})
            assert answer.status_code == 401, f"{method} /{route} answered {answer.status_code} to a stranger"
        assert _drop_heartbeat(anonymous, url, "abc123") == 401
        page = anonymous.get(url)
        assert page.status_code == 200 and "auth_required" in page.text  # the sign-in page still loads
        assert "/erase" not in page.text, "the anonymous sign-in page embeds the API schema"
        assert anonymous.get(url + "gradio_api/info").status_code == 401
    with httpx.Client(timeout=30) as user:
        assert _sign_in(user, url).status_code == 200
        assert _drop_heartbeat(user, url, "abc123") == 200
        _, files = _open_tab(user, url)  # the signed-in page works as before
        assert [user.get(u).status_code for u in files] == [200] * len(files)
        assert "/erase" in user.get(url).text  # signed in, the page has its API description again


def test_wrong_passwords_lock_the_user_out_even_with_the_right_password(signed_app):
    url = signed_app
    with httpx.Client(timeout=30) as client:
        assert [_sign_in(client, url, "wrong").status_code for _ in range(5)] == [400] * 5
        refused = _sign_in(client, url)  # the right password, during the lockout
        assert refused.status_code == 429
        message = refused.json()["detail"]
        assert re.fullmatch(r"Too many failed sign-in attempts\. Try again in \d+ s\.", message)
        assert int(refused.headers["retry-after"]) >= 1


class Clock:
    """Time that moves only when a test says so."""

    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lockouts_double_and_apply_per_user_and_per_address():
    from novita_ui.ui.server import protect

    clock = Clock()
    throttle = LoginThrottle(clock=clock, first_lockout=2.0)
    demo, url = _launch(auth=(USER, PASSWORD), app_kwargs=protect.app_kwargs(throttle))
    try:
        with httpx.Client(timeout=30) as client:
            # Sixty wrong passwords at once: only five reach the password check.
            with ThreadPoolExecutor(12) as pool:
                codes = list(pool.map(lambda _: _sign_in(client, url, "wrong").status_code, range(60)))
            assert sorted(codes) == [400] * 5 + [429] * 55
            waits = []
            for _ in range(3):
                waits.append(_sign_in(client, url).json()["detail"])  # refused, right password or not
                clock.now += throttle.lockout(throttle.free_attempts + len(waits) - 1) + 0.1
                assert _sign_in(client, url, "wrong").status_code == 400  # one more guess, then locked
            assert [re.findall(r"\d+", w)[0] for w in waits] == ["2", "4", "8"]
            clock.now += 60
            assert _sign_in(client, url).status_code == 200  # the lockout ends; success clears the count
            # Per address: five different user names from one client lock that client out, for everyone.
            for name in ["bob", "carl", "dora", "eve", "fred"]:
                assert _sign_in(client, url, "x", user=name).status_code == 400
            assert _sign_in(client, url).status_code == 429
    finally:
        demo.close()


def test_throttle_counts_each_user_across_addresses():
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for n in range(5):
        assert throttle.start("ann", f"10.0.0.{n}") == 0  # a new address each time
    assert throttle.start("ann", "10.0.0.99") == pytest.approx(1.0)
    assert throttle.start("bob", "10.0.0.99") == 0  # another user from a fresh address is not affected
    clock.now += 1.01
    assert throttle.start("ann", "10.0.0.7") == 0
    assert throttle.start("ann", "10.0.0.8") == pytest.approx(2.0)  # doubled
    throttle.succeeded("ann", "10.0.0.8")
    assert throttle.start("ann", "10.0.0.8") == 0
    assert [throttle.lockout(n) for n in (4, 5, 6, 7, 40)] == [0, 1, 2, 4, 900]
