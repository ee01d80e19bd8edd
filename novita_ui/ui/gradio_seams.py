"""Every Gradio 6.31 detail the app relies on that is not a documented, stable API, in one place.

``tests/test_ui.py::test_the_gradio_internals_the_app_relies_on_are_still_there`` checks each of them against
the installed Gradio, so an upgrade that breaks one fails loudly there instead of quietly in a user's tab.

- Where uploads and returned files live (``gradio.utils.get_upload_folder``): results written there are
  served as they are instead of being copied into the cache first.
- The cache sweep (``Blocks(delete_cache=...)``, ``route_utils.delete_files_created_by_app``) skips every
  path in a block's ``keep_in_cache`` set; it only iterates it, so a live view of the scratch works.
- DOM test ids and labels the page script and the browser tests find Gradio's elements by.
- Toasts are grouped by level and titled by it ("Error", "Warning"): the ``title`` of gr.Error/gr.Warning
  is never shown. :func:`titled` puts it at the start of the message instead, which the toast renders as
  HTML.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from .. import storage

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
    """A toast message that starts with its title, in bold (see the module docstring)."""
    return f"<strong>{html.escape(title)}.</strong> {html.escape(message)}"
