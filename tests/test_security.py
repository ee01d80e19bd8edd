"""Key secrecy and session isolation, proven with canary keys against the app (a real subprocess) and the CLI.

A canary key is a unique string: if it shows up anywhere it should not (a log line, a page, /config, an API
result or error, a saved file, a request to the image host), the test fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.app_process import AppServer, start_app, stop_app
from tests.fake_novita import FakeNovita, Fault, TaskPlan
from tests.images import box_mask, encode, photo_like

pytestmark = pytest.mark.slow  # app.py subprocesses, a wheel build or many-megapixel photos

ROOT = Path(__file__).resolve().parents[1]
SERVER_CANARY = "sk_canary_server_7f3a9c"
USER_CANARY = "sk_canary_user_51d2e8"

# (fault set-up, endpoint, message the user must see): the UI's side of the fault matrix.
FAULTS = [
    (
        "403",
        lambda f: f.fail_next("eraser", Fault.status(403, reason="INVALID_API_KEY")),
        "/erase",
        "API key",
    ),
    (
        "429",
        lambda f: f.fail_next("cleanup", *[Fault.status(429, retry_after="0")] * 4),
        "/cleanup",
        "rate limit",
    ),
    ("500", lambda f: f.fail_next("cleanup", *[Fault.status(500)] * 4), "/cleanup", "server problem"),
    ("html 502", lambda f: f.fail_next("cleanup", *[Fault.html_502()] * 4), "/cleanup", "server problem"),
    ("malformed", lambda f: f.fail_next("eraser", Fault.malformed_json()), "/erase", "could not be read"),
    (
        "failed",
        lambda f: setattr(f, "task_plan", TaskPlan(fail_reason="NSFW_DETECTED")),
        "/erase",
        "NSFW_DETECTED",
    ),
    (
        "never ends",
        lambda f: setattr(f, "task_plan", TaskPlan(never_finish=True)),
        "/erase",
        "did not finish",
    ),
    (
        "not found",
        lambda f: f.fail_next("task", Fault.status(404, reason="TASK_NOT_FOUND")),
        "/erase",
        "TASK_NOT_FOUND",
    ),
    ("expired", lambda f: f.fail_next("store", Fault.expired()), "/erase", "no longer available"),
    ("truncated", lambda f: f.fail_next("store", *[Fault.truncated()] * 4), "/erase", "damaged"),
    ("base64", lambda f: f.fail_next("cleanup", Fault.invalid_base64()), "/cleanup", "damaged image"),
    (
        "billing",
        lambda f: f.fail_next("cleanup", Fault.status(400, reason="BILLING_BALANCE_NOT_ENOUGH")),
        "/cleanup",
        "Top up",
    ),
]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeNovita]:
    with FakeNovita(valid_keys={SERVER_CANARY, USER_CANARY}) as server:
        yield server


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    photo, mask = folder / "photo.jpg", folder / "mask.png"
    photo.write_bytes(encode(photo_like(160, 120)))
    mask.write_bytes(encode(box_mask(160, 120, (40, 30, 80, 70)), "PNG"))
    return photo, mask


@pytest.fixture(scope="module")
def app(fake: FakeNovita, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    workdir = tmp_path_factory.mktemp("secure-app")
    out = workdir / "results"
    server = start_app(
        base_url=fake.url,
        workdir=workdir,
        server_key=SERVER_CANARY,
        args=["--output-dir", str(out)],
        env={"NOVITA_POLL_DEADLINE": "2"},
    )
    yield server
    stop_app(server)


def _call(client: Client, endpoint: str, files: tuple[Path, Path], key: str) -> str:
    photo, mask = files
    if endpoint == "/erase":
        return str(
            client.predict(handle_file(str(photo)), handle_file(str(mask)), "", "png", key, api_name=endpoint)
        )
    return str(client.predict(handle_file(str(photo)), handle_file(str(mask)), "png", key, api_name=endpoint))


# Every fault with the server's key; with a user's key only a few (one code path builds every message).
CASES = [(*fault, "") for fault in FAULTS] + [
    (*fault, USER_CANARY) for fault in FAULTS if fault[0] in ("403", "429", "failed")
]


@pytest.mark.parametrize(
    ("name", "setup", "endpoint", "expected", "key"),
    CASES,
    ids=[f"{c[0]}-{'user key' if c[4] else 'server key'}" for c in CASES],
)
def test_faults_show_the_right_message_and_never_the_key(
    app: AppServer,
    fake: FakeNovita,
    files: tuple[Path, Path],
    name: str,
    setup: Callable[[FakeNovita], object],
    endpoint: str,
    expected: str,
    key: str,
) -> None:
    fake.reset()
    setup(fake)
    client = Client(app.url, verbose=False)
    with pytest.raises(AppError) as caught:
        _call(client, endpoint, files, key)
    message = str(caught.value)
    assert expected in message, f"{name}: {message!r}"
    assert SERVER_CANARY not in message and USER_CANARY not in message
    assert fake.keys_seen and set(fake.keys_seen) == {key or SERVER_CANARY}
    client.close()


def test_successes_carry_the_right_key_and_leave_no_trace_of_it(
    app: AppServer, fake: FakeNovita, files: tuple[Path, Path]
) -> None:
    fake.reset()
    client = Client(app.url, verbose=False)
    for endpoint in ("/erase", "/cleanup"):
        for key in ("", USER_CANARY):
            fake.clear()
            result = _call(client, endpoint, files, key)
            assert Image.open(result).size == (160, 120)
            assert fake.keys_seen == [key or SERVER_CANARY] * len(fake.keys_seen)
    client.close()
    # Every way the app answers: pages, configuration, API description.
    for path in ("", "config", "gradio_api/info", "gradio_api/openapi.json"):
        response = httpx.get(app.url + path, timeout=10)
        assert SERVER_CANARY not in response.text and USER_CANARY not in response.text, path


def test_the_key_reaches_no_log_no_file_and_not_the_image_host(
    app: AppServer, fake: FakeNovita, files: tuple[Path, Path]
) -> None:
    """Runs after the tests above (module order): everything they did is in the log and the folders."""
    client = Client(app.url, verbose=False)
    _call(client, "/erase", files, USER_CANARY)
    client.close()
    log = app.log()
    assert "POST" in log or "Running on" in log  # the log really was captured
    assert SERVER_CANARY not in log and USER_CANARY not in log
    assert app.output_dir is not None
    saved = [p for p in app.output_dir.rglob("*") if p.is_file()]
    assert saved, "results were saved"
    for folder in (app.output_dir, app.temp_dir):
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert SERVER_CANARY.encode() not in data and USER_CANARY.encode() not in data, path
    store_requests = fake.requests_to("/results/")
    assert store_requests, "the erase above fetched its result from the image host: nothing to check"
    for request in store_requests:
        assert "authorization" not in request.headers
        assert SERVER_CANARY not in str(request.headers) and USER_CANARY not in str(request.query)


def test_a_key_typed_in_one_session_is_never_used_for_another(
    fake: FakeNovita, files: tuple[Path, Path], tmp_path: Path
) -> None:
    """On a server without a key: session A gives its key; session B, giving none, must be told to add one."""
    server = start_app(base_url=fake.url, workdir=tmp_path)
    try:
        fake.reset()
        alice, bob = Client(server.url, verbose=False), Client(server.url, verbose=False)
        assert Image.open(_call(alice, "/cleanup", files, USER_CANARY)).size == (160, 120)
        with pytest.raises(AppError, match="key"):
            _call(bob, "/cleanup", files, "")
        assert fake.keys_seen == [USER_CANARY]  # Bob's attempt never reached Novita
        alice.close()
        bob.close()
    finally:
        stop_app(server)


def test_32_concurrent_sessions_each_get_their_own_result_with_their_own_key(
    tmp_path: Path,
) -> None:
    users = 32
    keys = [f"sk_session_{i:02d}" for i in range(users)]
    with FakeNovita(valid_keys=set(keys)) as fake:
        # Every request waits at the fake until all 32 have arrived: sessions served one after another (or
        # fewer at a time) never get an answer, and no real seconds are waited out when they are concurrent.
        release = threading.Event()
        fake.fail_next("cleanup", *[Fault.hold(release, limit=60)] * users)
        server = start_app(base_url=fake.url, workdir=tmp_path)
        arrived: list[int] = []  # how many requests had arrived when they were released
        watcher = threading.Thread(target=_release_when, args=(fake, users, release, arrived))
        try:
            inputs = []
            for i in range(users):
                size = (96 + 2 * i, 64)  # a size only this user has
                photo, mask = tmp_path / f"u{i}.jpg", tmp_path / f"u{i}.png"
                photo.write_bytes(encode(photo_like(*size, seed=i)))
                mask.write_bytes(encode(box_mask(*size, (20, 20, 40, 40)), "PNG"))
                inputs.append((keys[i], (photo, mask), size))
            with ThreadPoolExecutor(max_workers=8) as pool:
                clients = list(pool.map(lambda _: Client(server.url, verbose=False), range(users)))

            def one(i: int) -> tuple[int, int]:
                key, pair, _ = inputs[i]
                with Image.open(_call(clients[i], "/cleanup", pair, key)) as result:
                    return result.size

            watcher.start()
            with ThreadPoolExecutor(max_workers=users) as pool:
                sizes = list(pool.map(one, range(users)))
            watcher.join(5)
            assert arrived == [users], f"the sessions were not served at once: {arrived} of {users} arrived"
            assert sizes == [size for *_, size in inputs], "every session got its own result"
            seen = {
                r.headers["authorization"].removeprefix("Bearer "): r.extras["image_size"]
                for r in fake.requests_to("/v3/cleanup")
            }
            assert len(fake.requests_to("/v3/cleanup")) == users, "nothing lost, nothing repeated"
            assert seen == {key: size for key, _, size in inputs}, "every request carried its session's key"
            with ThreadPoolExecutor(max_workers=users) as pool:  # a client takes ~0.8 s to close after a call
                list(pool.map(lambda client: client.close(), clients))
        finally:
            release.set()
            stop_app(server)


def _release_when(fake: FakeNovita, count: int, release: threading.Event, arrived: list[int]) -> None:
    """Set ``release`` once ``count`` cleanup requests have arrived at the fake (or after 60 s); ``arrived``
    gets how many had arrived by then."""
    deadline = time.monotonic() + 60
    while len(fake.requests_to("/v3/cleanup")) < count and time.monotonic() < deadline:
        time.sleep(0.01)  # polling the fake for arrivals, not pacing the test
    arrived.append(len(fake.requests_to("/v3/cleanup")))
    release.set()


def test_the_cli_never_prints_or_writes_the_key(
    fake: FakeNovita, files: tuple[Path, Path], tmp_path: Path
) -> None:
    photo, mask = files
    env = {
        **os.environ,
        "NOVITA_API_KEY": SERVER_CANARY,
        "NOVITA_BASE_URL": fake.url,
        "NOVITA_POLL_DEADLINE": "2",
    }
    # (command, fault set-up, exit code). The eraser's result comes from the object store (another host):
    # the key must never travel there; cleanup answers inline.
    scenarios: list[tuple[str, Callable[[FakeNovita], object], int]] = [
        ("cleanup", lambda f: None, 0),
        ("erase", lambda f: None, 0),
        ("cleanup", lambda f: f.fail_next("cleanup", Fault.status(403, reason="INVALID_API_KEY")), 1),
        ("cleanup", lambda f: f.fail_next("cleanup", *[Fault.status(503)] * 4), 1),
        ("cleanup", lambda f: f.fail_next("cleanup", Fault.invalid_base64()), 1),
        (
            "cleanup",
            lambda f: f.fail_next("cleanup", Fault.status(400, body={"message": f"key {SERVER_CANARY} bad"})),
            1,
        ),
    ]
    store_requests = []
    for index, (command, setup, expected_code) in enumerate(scenarios):
        fake.reset()
        setup(fake)
        out = tmp_path / f"out{index}.png"
        proc = subprocess.run(
            [sys.executable, "-m", "novita_ui", command, str(photo), "--mask", str(mask), "-o", str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == expected_code, proc.stderr
        assert SERVER_CANARY not in proc.stdout + proc.stderr
        if out.exists():
            assert SERVER_CANARY.encode() not in out.read_bytes()
        store_requests += fake.requests_to("/results/")
    assert store_requests, "the eraser's result was never fetched from the store: nothing was checked"
    assert all("authorization" not in r.headers for r in store_requests)
