"""In-process apps for tests: the Gradio app built, queued and launched on a free port, in one place.

    with launched(fast_settings(fake.url), Options(output_dir=out)) as running:   # or launch(...).close()
        Client(running.url) ...
    with offline_app(auth=(USER, PASSWORD)) as running:    # Offline only: Novita is never called
        sign_in(client, running.url)

Test files import these instead of each other's private helpers (``tests.test_ui._launch`` and
``tests.test_protect._launch`` remain as thin wrappers for older tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import gradio as gr
import httpx

from novita_ui.config import Settings
from novita_ui.ui import App, Options, build_app, launch_kwargs, queue_kwargs
from tests.app_process import free_port
from tests.conftest import fast_settings

USER, PASSWORD = "ann", "s3cret:pass"
# Nothing listens on port 9: an Offline-only app whose Novita calls would fail at once, loudly.
NO_NOVITA = "http://127.0.0.1:9"


@dataclass(frozen=True)
class LaunchedApp:
    """A launched ``gr.Blocks`` and the address it answers on (``.../``)."""

    demo: gr.Blocks
    url: str

    def close(self) -> None:
        self.demo.close()

    def __enter__(self) -> LaunchedApp:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def launch(
    settings: Settings,
    options: Options | None = None,
    *,
    app: App | None = None,
    auth: tuple[str, str] | None = None,
    **launch_extra: Any,
) -> LaunchedApp:
    """Build, queue and launch the app as ``python app.py`` does; ``launch_extra`` goes to ``demo.launch``."""
    options = options or Options()
    demo = build_app(settings, options, app=app)
    demo.queue(**queue_kwargs(options))
    for attempt in range(3):
        # A port free a moment ago may be taken by now (other xdist workers and test runs launch apps too).
        port = free_port()
        kwargs = {**launch_kwargs(options, port=port, auth=auth), **launch_extra}
        try:
            demo.launch(**kwargs, prevent_thread_lock=True, quiet=True)
        except OSError as error:
            if "Cannot find empty port" not in str(error) or attempt == 2:
                raise
            continue
        return LaunchedApp(demo, f"http://127.0.0.1:{port}/")
    raise AssertionError("unreachable")


@contextmanager
def launched(settings: Settings, options: Options | None = None, **kwargs: Any) -> Iterator[LaunchedApp]:
    """:func:`launch` for a ``with`` block: closed afterwards, whatever happened."""
    running = launch(settings, options, **kwargs)
    try:
        yield running
    finally:
        running.close()


def offline_app(auth: tuple[str, str] | None = None, **launch_extra: Any) -> LaunchedApp:
    """The app with default options and no reachable Novita server (Offline engine only)."""
    return launch(fast_settings(NO_NOVITA), Options(), auth=auth, **launch_extra)


def sign_in(client: httpx.Client, url: str, password: str = PASSWORD, user: str = USER) -> httpx.Response:
    """Gradio's sign-in form, as the browser posts it (the session cookie lands in ``client``)."""
    return client.post(url + "login", data={"username": user, "password": password})
