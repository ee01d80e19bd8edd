# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-quick lint bench chromium turbojpeg clean

# uv installs the requirements in ~11 s where pip took ~51 s (2 cores, both with warm caches);
# pip stays the fallback where uv cannot run. Both write the bytecode (.pyc) as they install: where
# PYTHONDONTWRITEBYTECODE is set (these machines, many containers), Python never writes it itself, and every
# process compiled what it imported, every time: `import gradio` took 4.8-5.2 s of CPU instead of 2.8 s.
UV      := $(VENV)/bin/uv
INSTALL  = $(UV) pip install -q --compile-bytecode --python $(PY) -r $(1) || $(PY) -m pip install -q -r $(1)
# The project's own modules, for the same reason (a second; stale ones are simply compiled again in memory).
COMPILE  = $(PY) -m compileall -q $(1) >/dev/null

$(PY):
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "uv>=0.9,<1" || true

# Stamps re-run the install only when a requirements file changed.
$(VENV)/.runtime: requirements.txt | $(PY)
	$(call INSTALL,requirements.txt)
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(PY)
	$(call INSTALL,requirements-dev.txt)
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
	@$(call COMPILE,app.py novita_ui)
	$(PY) app.py

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Four pytest-xdist workers, two per core on a 2-core machine: most tests wait on servers, browsers and
# subprocesses, and one worker per core left the cores idle most of the run. tests/conftest.py keeps each
# file on one worker and the browser files in three groups, one Chromium each (--dist loadfile). mypy checks
# the types while the tests run; the run ends with its 10 slowest tests, so the next slow one is seen.
TEST_WORKERS ?= 4
PYTEST_XDIST := -n $(TEST_WORKERS) --dist loadfile

test: $(VENV)/.dev chromium turbojpeg
	$(VENV)/bin/ruff check .
	$(call COMPILE,app.py novita_ui tests)
	@$(VENV)/bin/mypy > $(VENV)/mypy.log 2>&1 & types=$$!; \
	  $(VENV)/bin/pytest $(PYTEST_XDIST) --durations=10; tests=$$?; \
	  wait $$types; typed=$$?; echo "--- mypy"; cat $(VENV)/mypy.log; \
	  [ $$tests -eq 0 ] && [ $$typed -eq 0 ]

# The edit loop: unit tests only (no browser, no app.py subprocesses, no wheel build), under a minute.
test-quick: $(VENV)/.dev turbojpeg
	$(call COMPILE,app.py novita_ui tests)
	$(VENV)/bin/pytest $(PYTEST_XDIST) -m "not slow" --ignore=tests/browser --durations=5 -q

bench: $(VENV)/.dev chromium turbojpeg
	$(call COMPILE,app.py novita_ui tests benchmarks)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) test-output .mypy_cache .ruff_cache .pytest_cache
