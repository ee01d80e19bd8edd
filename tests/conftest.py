"""Shared fixtures: a clean environment for every test and a real fake Novita server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from novita_ui.config import Settings
from novita_ui.service import Service
from tests.fake_novita import TEST_KEY, FakeNovita, running_fake_novita

# The browser files in three groups of about equal time (seconds, each file alone on a quiet 2-core machine,
# 2026-12-07), each group on one pytest-xdist worker with its own Chromium and apps. A file not listed joins
# group "c".
BROWSER_GROUPS = {
    "test_session.py": "a",  # 97 s
    "test_smoke.py": "a",  # 67 s
    "test_first_use.py": "b",  # 96 s
    "test_select_tool.py": "b",  # 27 s
    "test_formats.py": "b",  # 15 s
    "test_remove_text.py": "b",  # 13 s
    "test_signin.py": "b",  # 12 s
    "test_scenarios.py": "c",  # 81 s
    "test_editor.py": "c",  # 70 s
}


def browser_group(nodeid: str) -> str | None:
    """The browser group of a test ("tests/browser/a"...), or None for a test outside tests/browser/."""
    path = nodeid.split("::", 1)[0]
    if not path.startswith("tests/browser/"):
        return None
    return "tests/browser/" + BROWSER_GROUPS.get(path.rsplit("/", 1)[-1], "c")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` with the browser files in three units: every test file stays on one pytest-xdist
    worker (files share an app or a fake server per module, and a few read what earlier tests in the file
    left in a log), and each browser group runs its files one after another on one worker: one Chromium and
    one set of ``app.py`` processes per group, not per file. (``--dist loadgroup`` would say this with marks,
    but pytest 9 keeps xdist from reading them.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FilesAndBrowserGroups(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no types
        started = False

        def _split_scope(self, nodeid: str) -> str:
            return browser_group(nodeid) or nodeid.split("::", 1)[0]

        def _assign_work_unit(self, node: Any) -> None:
            # Longest first: xdist queues units by their number of tests, which put the three browser groups
            # (17-18 tests, ~3-5 minutes each) 14th to 17th, behind files of a few seconds.
            if not self.started:
                self.started = True
                queue = self.workqueue
                for scope in sorted(queue, key=lambda scope: not scope.startswith("tests/browser/")):
                    queue.move_to_end(scope)
            super()._assign_work_unit(node)

    return FilesAndBrowserGroups(config, log)


# Every variable the code reads (tests/test_environment.py checks this list against the source), and whole
# prefixes: Gradio reads many GRADIO_* of its own (root path, share, MCP server, allowed paths...).
ENVIRONMENT = (
    "NOVITA_API_KEY",
    "NOVITA_BASE_URL",
    "NOVITA_POLL_DEADLINE",
    "NOVITA_READ_TIMEOUT",
    "NOVITA_ERASER_IMAGE_ENCODING",
    "NOVITA_MAX_REQUESTS_PER_HOUR",
    "NOVITA_UI_MEMORY_BUDGET_MB",
    "NOVITA_UI_SEND_WHOLE_PHOTO",
    "NOVITA_UI_IMAGE_PROCESSES",
    "NOVITA_UI_AUTH",
    "NOVITA_UI_MCP",
    "GRADIO_SERVER_NAME",
    "GRADIO_SERVER_PORT",
    "GRADIO_TEMP_DIR",
    "SPACE_ID",
    "PORT",
)
ENVIRONMENT_PREFIXES = ("NOVITA_", "GRADIO_")


def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset everything the app (or Gradio) would read from a developer's shell; analytics stay off."""
    for name in {*ENVIRONMENT, *(k for k in os.environ if k.startswith(ENVIRONMENT_PREFIXES))}:
        monkeypatch.delenv(name, raising=False)
    # Gradio would otherwise phone home from every launched app (no network here: each call just times out).
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own key, base URL, port, sign-in or Gradio settings."""
    clean_environment(monkeypatch)


@pytest.fixture
def fake() -> Iterator[FakeNovita]:
    """A fake Novita server on 127.0.0.1 (results served from 127.0.0.2)."""
    with running_fake_novita() as server:
        yield server


def fast_settings(base_url: str, **overrides: object) -> Settings:
    """Settings for tests: the fake's URL and key, and short waits (time is not what these tests check)."""
    values: dict[str, object] = {
        "api_key": TEST_KEY,
        "base_url": base_url,
        "poll_min_interval": 0.01,
        "poll_max_interval": 0.05,
        "poll_rate": 1000.0,
        "backoff_base": 0.01,
        "max_retry_delay": 0.05,
        "poll_deadline": 10.0,
        "read_timeout": 60.0,
        "connect_timeout": 2.0,
    }
    values.update(overrides)
    return Settings.load(env={}, **values)


@pytest.fixture
def settings(fake: FakeNovita) -> Settings:
    return fast_settings(fake.url)


@pytest.fixture
async def service(fake: FakeNovita) -> AsyncIterator[Service]:
    """A service talking to this test's fake Novita server, closed afterwards."""
    svc = Service(fast_settings(fake.url))
    yield svc
    await svc.aclose()
