"""Tests run in a clean environment: a developer's own key, base URL, port or sign-in never reaches them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import ENVIRONMENT, ENVIRONMENT_PREFIXES, clean_environment

ROOT = Path(__file__).resolve().parents[1]
# A quoted name the code could look up: NOVITA_*, GRADIO_*, or the two a Space / PaaS sets.
READ_NAME = re.compile(r"""["']((?:NOVITA|GRADIO)_[A-Z0-9_]+|SPACE_ID|PORT)["']""")


def _names_in_the_code() -> set[str]:
    sources = [*sorted((ROOT / "novita_ui").rglob("*.py")), ROOT / "app.py"]
    return {name for path in sources for name in READ_NAME.findall(path.read_text())}


def test_every_variable_the_code_reads_is_in_the_fixtures_list() -> None:
    found = _names_in_the_code()
    assert len(found) >= 15, sorted(found)  # the scan really sees the code's lookups
    missing = found - set(ENVIRONMENT)
    assert not missing, f"tests/conftest.py ENVIRONMENT does not clear {sorted(missing)}"


def test_a_developers_settings_are_all_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    names = _names_in_the_code() | set(ENVIRONMENT) | {"NOVITA_SOMETHING_NEW", "GRADIO_ROOT_PATH"}
    for name in names:
        monkeypatch.setenv(name, "from-the-developers-shell")
    clean_environment(monkeypatch)
    left = {k: v for k, v in os.environ.items() if k in names or k.startswith(ENVIRONMENT_PREFIXES)}
    assert left == {"GRADIO_ANALYTICS_ENABLED": "False"}, left


def test_this_test_already_runs_clean() -> None:
    assert not [k for k in ENVIRONMENT if k in os.environ]
    assert os.environ.get("GRADIO_ANALYTICS_ENABLED") == "False"
