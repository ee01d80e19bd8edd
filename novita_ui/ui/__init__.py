"""The browser app (Gradio Blocks), in four modules whose imports point one way:

- ``helpers.py``: constants, :class:`Options`, what a session keeps (:class:`Workspace`, :class:`Outcome`)
  and pure helpers (engine labels, canvas size, status and error texts, masks and previews); no gradio.
- ``handlers.py``: :class:`App`, everything the page's events and the public API call.
- ``page.py``: the page's CSS and JavaScript, as plain strings.
- ``layout.py``: :func:`build_app` (components, events, public endpoints), :func:`launch_kwargs` and
  :func:`queue_kwargs`.
- ``tools.py``: the public endpoints' functions, whose docstrings are their MCP tool descriptions.
- ``agents.py``: MCP (``--mcp``): Gradio's loopback client, signed in under ``--auth``.

layout -> tools -> handlers -> helpers; layout also reads page and agents. The ui package is the only place
that imports gradio. Every removal goes through :meth:`Service.remove`.

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
    Workspace,
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
from .layout import build_app, launch_kwargs, queue_kwargs

__all__ = [
    "BRUSH_RADIUS",
    "CACHE_SWEEP",
    "ENGINE_LABELS",
    "FORMATS",
    "HISTORY_LIMIT",
    "MIN_CANVAS_SIDE",
    "NO_PHOTO",
    "App",
    "Options",
    "Outcome",
    "Workspace",
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
