"""The web app's options (what app.py's flags set), with the limits they default to."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from novita_ui.pixels import imaging

GROW_LIMIT = 64  # the page's "Grow mask" slider: px either way (negative shrinks)
HISTORY_LIMIT = 24

# Gradio's cache sweep: every minute, files older than 10 minutes go. What ages out is only hand-offs:
# uploads (read by their event as soon as it leaves the queue; Gradio then keeps no reference) and API
# results (fetched by the client as soon as its call ends; the scratch deletes them after 2 minutes
# already). Files an open tab still shows are exempt (see gradio_seams.KeptScratch).
CACHE_SWEEP = (60, 600)


@dataclass(frozen=True, kw_only=True)
class Options:
    """How the web app runs (the CLI flags of app.py end up here)."""

    output_dir: Path | None = None  # every result is also saved here, with a JSON sidecar
    preview_max_side: int = 1024  # longest side of the working canvas the user paints on
    max_file_size: int = imaging.MAX_INPUT_BYTES  # bytes; larger uploads are refused with a message
    # Novita calls mostly wait on the network: 32 users at once each get an answer in one round trip
    # (bench_load). Each call in flight holds its photo's bytes, ~10-20 MB for 12 MP.
    novita_concurrency: int = 32
    offline_concurrency: int = field(default_factory=lambda: os.cpu_count() or 2)
    queue_size: int = 64  # events waiting beyond this get "This application is currently busy"
    scratch_dir: Path | None = None  # per-session working files; default: a fresh folder in Gradio's cache
    editor_height: int = 560
