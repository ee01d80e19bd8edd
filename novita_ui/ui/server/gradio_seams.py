"""Every Gradio 6.31 detail the app relies on that is not a documented, stable API, in one place.

``tests/test_ui.py::test_the_gradio_internals_the_app_relies_on_are_still_there`` checks each of them against
the installed Gradio, so an upgrade that breaks one fails loudly there instead of quietly in a user's tab.

- Where uploads and returned files live (``gradio.utils.get_upload_folder``): results written there are
  served as they are instead of being copied into the cache first.
- The cache sweep (``Blocks(delete_cache=...)``, ``route_utils.delete_files_created_by_app``) skips every
  path in a block's ``keep_in_cache`` set; it only iterates it, so a live view of the scratch works.
- DOM test ids and labels the page script and the browser tests find Gradio's elements by.
- A new session (``gradio.state_holder.SessionState``) builds every component's config for itself, about
  20 ms for this page (pydantic schemas, ``inspect.signature``), inside the event loop: 32 clients connecting
  at once held it for over half a second. :func:`build_session_config_once` builds it once per page and
  gives each session its own copies (0.08 ms).
- Gradio's queue looks for new events every 1 ms and for progress to send every 10 ms, even with nothing to
  do (``queueing.Queue.sleep_when_free``, ``progress_update_sleep_when_free``): an idle app used ~6 % of a
  core. :func:`calm_idle_queue` makes that 20 ms and 50 ms (1.7 %, ``benchmarks/bench_app.py``); an event
  waits at most 20 ms longer to start, beside the 0.9 s or more a removal takes. Checked by
  ``tests/test_ui.py::test_an_idle_app_looks_for_work_50_times_a_second_not_1000``.
- Toasts are grouped by level and titled by it ("Error", "Warning"): the ``title`` of gr.Error/gr.Warning
  is never shown. :func:`titled` puts it at the start of the message instead, which the toast renders as
  HTML.
"""

from __future__ import annotations

import html
import re
import types
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from novita_ui.runtime import storage

# The hidden upload button #photo-sink renders its <input type=file> with this test id.
PHOTO_SINK_INPUT = 'input[data-testid="photo-sink-upload-button"]'
# The editor toolbar's bin button (it removes the photo) and a toast.
CLEAR_CANVAS_BUTTON = 'button[aria-label="Clear canvas"]'
TOAST = '[data-testid="toast-body"]'


def upload_folder() -> Path:
    """Gradio's cache folder (GRADIO_TEMP_DIR or the system's temp folder + /gradio)."""
    return Path(get_upload_folder())


class KeptScratch:
    """What Gradio's cache sweeper reads as a set of paths to leave alone: the scratch's kept files."""

    def __init__(self, scratch: storage.ScratchSpace) -> None:
        self.scratch = scratch
        self.extra: set[str] = set()  # in case Gradio ever adds a path of its own

    def __iter__(self) -> Iterator[str]:
        yield from self.scratch.kept
        yield from list(self.extra)

    def add(self, path: str) -> None:
        self.extra.add(path)


def keep_scratch_in_cache(scratch: storage.ScratchSpace) -> None:
    """Make the sweeper leave an open tab's scratch files alone (call inside the Blocks)."""
    gr.State().keep_in_cache = KeptScratch(scratch)  # type: ignore[assignment]  # read as a set of paths


def titled(message: str, title: str) -> str:
    """A toast message that starts with its title, in bold (see the module docstring). The message is the
    status line's Markdown; a toast shows HTML, so its **bold** and `code` become tags, not asterisks."""
    return f"<strong>{html.escape(title)}.</strong> {markdown_to_html(message)}"


def markdown_to_html(text: str) -> str:
    """The little Markdown the page's messages use (**bold**, *italic*, `code`, \\* escapes), as HTML."""
    out = html.escape(text).replace("\\*", "\x00")
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", out)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return out.replace("\x00", "*")


QUEUE_IDLE_POLL_S = 0.02  # Gradio: 0.001 (0.05 on Windows)
PROGRESS_POLL_S = 0.05  # Gradio: 0.01 (0.1 on Windows); a progress bar moving 20 times a second


def calm_idle_queue(demo: gr.Blocks) -> None:
    """Slow the idle polling of the queue that ``demo.queue()`` makes, from when the server starts it."""
    start = demo.run_startup_events  # what Gradio's server calls once it starts; it starts the queue's loops

    def run_startup_events() -> None:
        start()  # type: ignore[no-untyped-call]
        queue = demo._queue
        queue.sleep_when_free = max(queue.sleep_when_free, QUEUE_IDLE_POLL_S)
        queue.progress_update_sleep_when_free = max(queue.progress_update_sleep_when_free, PROGRESS_POLL_S)

    demo.run_startup_events = run_startup_events  # type: ignore[method-assign]


def build_session_config_once() -> None:
    """New Gradio sessions copy their page's component configs instead of building them (module docstring).

    The first session of a page is built by Gradio as before, and its configs kept as the page's template;
    the next ones run Gradio's own ``__init__`` with no blocks to configure, then get copies of the template
    (each config dict and its props copied: Gradio edits ``config_values[id]["props"]["value"]`` in place,
    and replaces whole entries otherwise). Idempotent."""
    from gradio import state_holder

    session_class: Any = state_holder.SessionState
    build = session_class.__init__
    if getattr(build, "copies_config", False):
        return
    templates: weakref.WeakKeyDictionary[Any, dict[int, dict[str, Any]]] = weakref.WeakKeyDictionary()

    def init(self: Any, blocks: Any) -> None:
        page = blocks.default_config
        template = templates.get(page)
        if template is None:
            build(self, blocks)
            templates[page] = _config_copies(self.config_values)
            return
        build(self, types.SimpleNamespace(default_config=page, blocks={}))  # nothing to configure
        self.config_values = _config_copies(template)

    init.copies_config = True  # type: ignore[attr-defined]
    init.gradio_init = build  # type: ignore[attr-defined]  # tests compare with it
    session_class.__init__ = init


def _config_copies(configs: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    def copied(config: dict[str, Any]) -> dict[str, Any]:
        props = config.get("props")
        return {**config, "props": dict(props)} if isinstance(props, dict) else dict(config)

    return {key: copied(config) for key, config in configs.items()}
