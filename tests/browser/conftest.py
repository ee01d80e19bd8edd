"""Browser-test fixtures: one fake Novita server, the app in subprocesses, one Chromium for the session.

    fake_novita     the session's FakeNovita (real HTTP); reset after every test that uses it
    app_factory     start(server_key=..., args=[...]) -> AppServer, one process per distinct configuration
    keyless_app     `python app.py` with no key anywhere (Offline is the default engine)
    keyed_app       NOVITA_API_KEY=TEST_KEY and --output-dir (Novita Eraser is the default engine)
    browser         a Chromium context on a fresh profile (fails, not skips, when Chromium is missing)
    page            a new 1280 x 800 tab per test; JavaScript errors in the page fail the test
                    (a failed test leaves test-output/screenshots/failed-<test>-<width>.png and .log)
    phone_page      the same at 390 x 844

Every app talks to the fake server only (NOVITA_BASE_URL), keeps Gradio's files in its own GRADIO_TEMP_DIR,
and is stopped by pid at the end of the session.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.helpers import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    AppServer,
    PageTrail,
    chromium_context,
    chromium_missing_message,
    shot,
    start_app,
    stop_app,
)
from tests.fake_novita import TEST_KEY, FakeNovita

AppFactory = Callable[..., AppServer]


@pytest.fixture(scope="session")
def _fake_server() -> Iterator[FakeNovita]:
    with FakeNovita() as server:
        yield server


@pytest.fixture
def fake_novita(_fake_server: FakeNovita) -> Iterator[FakeNovita]:
    """The session's fake Novita server, clean for this test (faults, plan, latency, requests)."""
    _fake_server.reset()
    yield _fake_server
    _fake_server.reset()


@pytest.fixture(scope="session")
def app_factory(_fake_server: FakeNovita, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppFactory]:
    """``start(server_key=None, args=())``: the app with that configuration (started once, then reused)."""
    running: dict[tuple[Any, ...], AppServer] = {}

    def start(server_key: str | None = None, args: tuple[str, ...] = ()) -> AppServer:
        key = (server_key, tuple(args))
        if key not in running:
            workdir = tmp_path_factory.mktemp("app")
            running[key] = start_app(
                base_url=_fake_server.url, workdir=workdir, server_key=server_key, args=list(args)
            )
        return running[key]

    yield start
    for server in running.values():
        stop_app(server)


@pytest.fixture(scope="session")
def keyless_app(app_factory: AppFactory) -> AppServer:
    """No key anywhere: Offline is the default engine; Novita engines must say how to add a key."""
    return app_factory()


@pytest.fixture(scope="session")
def keyed_app(app_factory: AppFactory, tmp_path_factory: pytest.TempPathFactory) -> AppServer:
    """The server has a key (the fake's TEST_KEY) and saves every result to an output folder."""
    out = tmp_path_factory.mktemp("results")
    return app_factory(server_key=TEST_KEY, args=("--output-dir", str(out)))


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the browser tests (a persistent context on a fresh profile).

    Package scope, not session: playwright's sync API keeps an event loop running in the main thread while
    it lives, which would break every ``asyncio.run`` in the tests collected after this folder."""
    missing = chromium_missing_message()
    if missing:
        pytest.fail(missing, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, chromium_context(playwright) as context:
        yield context


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, so a page fixture can tell that its test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _new_page(browser: Any, viewport: dict[str, int], request: pytest.FixtureRequest) -> Iterator[Any]:
    page = browser.new_page()
    page.set_viewport_size(viewport)
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    trail = PageTrail(page)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        # What the page showed when the test failed, and what it sent and logged: the first things to look
        # at for a flaky wait (did the click's job reach the server?).
        name = f"failed-{request.node.name}-{viewport['width']}"
        with contextlib.suppress(Exception):
            shot(page, name, full_page=True)
        with contextlib.suppress(Exception):
            trail.save(SCREENSHOTS / f"{name}.log")
    page.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh desktop-sized tab (a screenshot of it is saved as failed-<test>-1280.png if the test fails)."""
    yield from _new_page(browser, DESKTOP, request)


@pytest.fixture
def phone_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh phone-sized tab (390 x 844)."""
    yield from _new_page(browser, PHONE, request)


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Test photos made in code: a garden scene with a red ball (1600 x 1200), small (640 x 480),
    12 MP (4000 x 3000) and an EXIF-rotated JPEG."""
    from tests.images import encode, jpeg_with_orientation, photo_like

    folder = tmp_path_factory.mktemp("photos")
    files = {
        "scene": ("garden.jpg", encode(scene(1600, 1200))),
        "small": ("small.jpg", encode(photo_like(640, 480, seed=1))),
        "photo12": ("holiday.jpg", encode(photo_like(4000, 3000, seed=2))),
        # Stored 400 x 300, EXIF orientation 6: viewers (and the app) show it 300 x 400.
        "rotated": ("rotated.jpg", jpeg_with_orientation(photo_like(400, 300, seed=3), 6)),
    }
    paths = {}
    for key, (name, data) in files.items():
        path = folder / name
        path.write_bytes(data)
        paths[key] = path
    return paths


BALL = (0.5, 0.55, 0.06)  # centre x, centre y, radius: fractions of the scene's width


def scene(width: int, height: int) -> Any:
    """A garden: sky, lawn, and a red ball to remove (at BALL). Smooth areas, like a real photo."""
    import numpy as np

    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack([110 + 60 * y / height, 160 + 50 * y / height, 235 - 20 * y / height], axis=-1)
    lawn = np.stack([60 + 30 * np.sin(x / 37.0), 140 + 40 * (y / height), 50 + 0 * x], axis=-1)
    horizon = height * 0.45 + 25 * np.sin(x / width * 6.0)
    pixels = np.where((y > horizon)[..., None], lawn, sky)
    cx, cy, r = BALL[0] * width, BALL[1] * height, BALL[2] * width
    ball = (x - cx) ** 2 + (y - cy) ** 2 < r**2
    pixels[ball] = (215, 30, 35)
    noise = np.random.default_rng(5).normal(0, 3, pixels.shape)
    return np.clip(pixels + noise, 0, 255).astype(np.uint8)
