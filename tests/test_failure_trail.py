"""What a failed browser test leaves beside its screenshot (README): the tab's console, its API requests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.browser.helpers import PageTrail


@dataclass
class _Sent:
    url: str
    method: str = "POST"
    failure: str | None = None


@dataclass
class _Message:
    type: str
    text: str


class _Tab:
    """Playwright's page as far as the trail uses it: ``on(event, handler)``."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def on(self, event: str, handler: Any) -> None:
        self.handlers[event] = handler


def test_the_trail_keeps_console_lines_and_api_requests_not_assets(tmp_path: Path) -> None:
    tab = _Tab()
    trail = PageTrail(tab)
    tab.handlers["request"](_Sent("http://127.0.0.1:7860/assets/index-x.js", "GET"))
    tab.handlers["request"](_Sent("http://127.0.0.1:7860/gradio_api/queue/join?"))
    tab.handlers["console"](_Message("error", "Remove: the canvas could not be read"))
    tab.handlers["requestfinished"](_Sent("http://127.0.0.1:7860/gradio_api/queue/join?"))
    aborted = _Sent("http://127.0.0.1:7860/gradio_api/upload", failure="net::ERR_ABORTED")
    tab.handlers["requestfailed"](aborted)
    saved = tmp_path / "screens" / "failed-test_x-1280.log"
    trail.save(saved)
    lines = saved.read_text().splitlines()
    assert [line.split(" s  ", 1)[1] for line in lines] == [
        "sent POST queue/join?",
        "console error: Remove: the canvas could not be read",
        "answered POST queue/join?",
        "failed (net::ERR_ABORTED) POST upload",
    ]
    assert all(float(line.split(" s  ", 1)[0]) >= 0 for line in lines)  # seconds since the tab opened
