"""The browser app (Gradio Blocks). Imports point one way: ``wiring`` -> ``layout`` / ``app`` -> ``events`` ->
``session`` -> the gradio-free modules below; ``server`` and ``assets`` import nothing of the others but
``server.gradio_seams``.

- No gradio: ``texts.py`` (labels and sentences the page shows), ``options.py`` (:class:`Options`),
  ``outcome.py`` (:class:`Outcome`, one finished removal, and how results are numbered), ``wording.py``
  (errors as a user reads them), ``previews.py`` (the working canvas: its size, the photo and a result at that
  size, the painted mask).
- ``session.py``: :class:`Session`, one tab's truth: its photo, uploaded mask, job in flight and results.
- ``events/``: photos and masks (``photos.py``), Remove (``removal.py``), the public endpoints (``api.py``,
  ``tools.py``), refusals and failures as the user sees them (``feedback.py``), all through the narrow
  ``context.EventContext``.
- ``app.py``: :class:`App`, what all tabs share; it builds the events and their context.
- ``layout.py``: the components; ``wiring.py``: :func:`build_app`, the wiring, launch and queue settings.
- ``server/``: middleware (sign-in, its throttle, the page cache), MCP's loopback client, and
  ``gradio_seams.py``, every Gradio internal the app relies on.
- ``assets/``: the page's CSS and JavaScript (``page.py``) and the editor's (``editor_page.py``);
  ``editor.py``: the editor's brush, sizes and shortcut list.

The ui package is the only place that imports gradio. Every removal goes through :meth:`Service.remove`;
policy that is not about the page lives below it (``novita_ui.pixels.masks`` merges painted and uploaded
masks).

How large photos stay fast (measured in headless Chromium, 2 cores; see ``benchmarks/bench_browser.py``):
Gradio's ``ImageEditor`` holds its image in a WebGL canvas and, whenever its value is read, exports the
background, every layer and a composite as full-size PNGs and uploads them (~35 MB for a 12 MP JPEG, 8-14 s),
fails silently past the browser's texture limit (8192 px: black image, empty mask), and hangs on HTTP 413
when the PNGs exceed the upload limit. Worse, Gradio 6.31 re-reads an editor's value on *every* loading
status update of *any* event once the editor has been an input or a progress target of a queued event, so
one Remove can trigger a dozen exports. So here:

1. A small script (``page.PAGE_JS``) catches a photo dropped on, chosen in, or pasted into the editor before
   the editor sees it, and hands the untouched file to a hidden upload button (``#photo-sink``): the server
   gets the original bytes (EXIF orientation is applied there), keeps them per session in a scratch folder,
   and gives the editor a preview whose longer side is at most ``Options.preview_max_side`` px (1024): the
   user paints on a bounded working canvas, whatever the photo's size (16384 px panoramas included).
2. The editor is never an input of a server event and never shows a progress status; Remove does not even
   let Gradio export it. A browser-only function reads the stroke layers (small PNGs) and a quarter-size
   print of the canvas straight from Gradio's editor (``window.editor``) and puts them in the job it sends
   to one of two queues: Novita engines (I/O bound, ``concurrency_id="novita"``, 32 at a time) or Offline
   (CPU bound, one per core). The server checks the print still shows the photo (``events/canvas.py``).
3. The painted mask is mapped back to the original's size by aspect ratio (``imaging.mask_from_layers``), the
   engine runs on the full-resolution original, and the full-resolution result is offered for download;
   only previews travel back to the page.

The click sends the stroke layers and the canvas print inside the job (tens of kB, no upload), not the
~60 MB the naive editor path uploads; what each phase of a click costs is measured by
``benchmarks/bench_browser.py`` (docs/performance.md).

Keys: the password field's value is an input of each Novita event and is passed as ``RemoveRequest.api_key``
for that request only; it is never stored server-side, and ``run_history`` is off so the browser does not
keep it either. The server's ``NOVITA_API_KEY`` is the fallback, guarded by :class:`SpendGuard`.
"""

from novita_ui.ui.app import App
from novita_ui.ui.options import CACHE_SWEEP, HISTORY_LIMIT, Options
from novita_ui.ui.outcome import Outcome
from novita_ui.ui.previews import (
    BRUSH_RADIUS,
    MIN_CANVAS_SIDE,
    canvas_size,
    make_preview,
)
from novita_ui.ui.session import JobSpec, Photo, Session
from novita_ui.ui.texts import ENGINE_LABELS, FORMATS, NO_PHOTO, engine_note, engine_of, progress_text
from novita_ui.ui.wiring import build_app, launch_kwargs, queue_kwargs
from novita_ui.ui.wording import error_title, user_message

__all__ = [
    "BRUSH_RADIUS",
    "CACHE_SWEEP",
    "ENGINE_LABELS",
    "FORMATS",
    "HISTORY_LIMIT",
    "MIN_CANVAS_SIDE",
    "NO_PHOTO",
    "App",
    "JobSpec",
    "Options",
    "Outcome",
    "Photo",
    "Session",
    "build_app",
    "canvas_size",
    "engine_note",
    "engine_of",
    "error_title",
    "launch_kwargs",
    "make_preview",
    "progress_text",
    "queue_kwargs",
    "user_message",
]
