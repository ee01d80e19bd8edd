# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-quick lint bench chromium turbojpeg clean

$(PY):
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Stamps re-run pip only when a requirements file changed.
$(VENV)/.runtime: requirements.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# Browser tests drive Debian's Chromium (never `playwright install`: it downloads a browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

# JPEG edits use libjpeg-turbo's TurboJPEG library when it is there (about 4x faster than the jpeglib fallback).
turbojpeg:
	@$(PYTHON) -c 'import ctypes.util as u, sys; sys.exit(not u.find_library("turbojpeg"))' || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get install -y -q libturbojpeg0 || { apt-get update -q && apt-get install -y -q libturbojpeg0; }; } \
	    >/dev/null 2>&1; } || \
	  echo "note: without libturbojpeg0 (sudo apt-get install libturbojpeg0) JPEG edits use jpeglib: same result, slower"

run: $(VENV)/.runtime turbojpeg
	$(PY) app.py

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# One pytest-xdist worker per core (tests/conftest.py keeps each file on one worker and the browser files
# together on one: --dist loadfile). The run ends with its 10 slowest tests, so the next slow one is seen.
TEST_WORKERS ?= auto
PYTEST_XDIST := -n $(TEST_WORKERS) --dist loadfile

test: $(VENV)/.dev chromium turbojpeg lint
	$(VENV)/bin/pytest $(PYTEST_XDIST) --durations=10

# The edit loop: unit tests only (no browser, no app.py subprocesses, no wheel build), under a minute.
test-quick: $(VENV)/.dev turbojpeg
	$(VENV)/bin/pytest $(PYTEST_XDIST) -m "not slow" --ignore=tests/browser --durations=5 -q

bench: $(VENV)/.dev chromium turbojpeg
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) test-output .mypy_cache .ruff_cache .pytest_cache
