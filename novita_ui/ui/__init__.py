"""The browser app (Gradio Blocks). Modules, imports pointing one way (events -> layout, handlers -> ...):

- ``helpers.py``: constants, :class:`Options`, :class:`Outcome`, pure helpers (texts, masks, previews).
- ``session.py``: :class:`Session`, one tab's truth: its photo, uploaded mask, job in flight and results.
- ``photos.py`` / ``removal.py`` / ``api.py``: the events: photos and masks; Remove; the public endpoints.
- ``handlers.py``: :class:`App`, what all tabs share, and the one way to run a removal.
- ``feedback.py``: refusals and unexpected failures as the user sees them.
- ``layout.py``: the components; ``events.py``: :func:`build_app`, the wiring, launch and queue settings.
- ``page.py``: the page's CSS and JavaScript; ``gradio_seams.py``: every Gradio internal the app relies on.
- ``editor.py`` / ``editor_page.py``: the editor's brush, shortcuts, brush size, hold-to-compare.
- ``tools.py``: the public endpoints' functions (MCP tool descriptions); ``agents.py``: MCP's loopback client.

The ui package is the only place that imports gradio. Every removal goes through :meth:`Service.remove`;
policy that is not about the page lives below it (``novita_ui.masks`` merges painted and uploaded masks).

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
2. The editor is never an input of a server event and never shows a progress status. Remove runs a
   browser-only function that reads the editor once and forwards the stroke layers (small PNGs) to hidden
   components; the real work is triggered from those, through one of two queues: Novita engines (I/O bound,
   ``concurrency_id="novita"``, 32 at a time) or Offline (CPU bound, one per core).
3. The painted mask is mapped back to the original's size by aspect ratio (``imaging.mask_from_layers``), the
   engine runs on the full-resolution original, and the full-resolution result is offered for download;
   only previews travel back to the page.

Measured for a 12 MP JPEG (median of 3): Remove click -> result shown 1.6-2.2 s with Offline and 2.4-2.6 s
with Novita Eraser against the zero-latency fake server, against 17-31 s for the naive editor path; the click
uploads 3.9 MB of canvas PNGs instead of 59.5 MB. Method and numbers: ``benchmarks/bench_browser.py``.

Keys: the password field's value is an input of each Novita event and is passed as ``RemoveRequest.api_key``
for that request only; it is never stored server-side, and ``run_history`` is off so the browser does not
keep it either. The server's ``NOVITA_API_KEY`` is the fallback, guarded by :class:`SpendGuard`.
"""

from .events import build_app, launch_kwargs, queue_kwargs
from .handlers import App
from .helpers import (
    BRUSH_RADIUS,
    CACHE_SWEEP,
    ENGINE_LABELS,
    FORMATS,
    HISTORY_LIMIT,
    MIN_CANVAS_SIDE,
    NO_PHOTO,
    Options,
    Outcome,
    canvas_size,
    engine_note,
    engine_of,
    error_title,
    make_preview,
    painted_mask,
    progress_text,
    result_preview,
    user_message,
)
from .session import JobSpec, Photo, Session

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
    "painted_mask",
    "progress_text",
    "queue_kwargs",
    "result_preview",
    "user_message",
]
