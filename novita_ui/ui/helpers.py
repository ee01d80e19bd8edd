"""The gradio-free part of the web app: constants, options, a finished result, and pure helpers.

Everything here is plain data or a function from inputs to text or image bytes, so it is tested without a
server. The events (``events/``) and the page (``layout.py``) build on it; it imports neither.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from novita_ui.errors import (
    AuthenticationError,
    InputError,
    MissingAPIKeyError,
    NovitaUIError,
    RateLimitError,
    TaskError,
)
from novita_ui.normalise import Engine, numbered_name
from novita_ui.novita.client import KEY_HELP, TaskProgress
from novita_ui.pixels import imaging, local

ENGINE_LABELS: dict[str, Engine] = {
    "Novita Eraser": "eraser",
    "Novita Cleanup": "cleanup",
    "Offline": "local",
}
# What a job in the page may run: the engines, and "Remove all text" (its own button, not an engine choice).
TEXT_LABEL = "Novita Remove text"
JOB_LABELS: dict[str, Engine] = {**ENGINE_LABELS, TEXT_LABEL: "remove-text"}
# The Offline engine's quality choice -> local method ("auto": local.choose_method, by the mask's shape).
QUALITY_LABELS: dict[str, local.Choice] = {
    "Auto": "auto",
    "Fast": "telea",
    "Texture": "patchmatch",
}
# The radio's starting value: the label of the default every front end shares (local.DEFAULT_CHOICE).
DEFAULT_QUALITY = next(label for label, choice in QUALITY_LABELS.items() if choice == local.DEFAULT_CHOICE)
FORMATS: tuple[imaging.OutputFormat, ...] = imaging.OUTPUT_FORMATS
GROW_LIMIT = 64  # the page's "Grow mask" slider: px either way (negative shrinks)
HISTORY_LIMIT = 24
FLATTENED = (
    "The photo's transparent areas were laid on white: JPEG has no transparency. "
    "Choose png or webp to keep them."
)
# Gradio's cache sweep: every minute, files older than 10 minutes go. What ages out is only hand-offs:
# uploads (read by their event as soon as it leaves the queue; Gradio then keeps no reference) and API
# results (fetched by the client as soon as its call ends; the scratch deletes them after 2 minutes
# already). Files an open tab still shows are exempt (see gradio_seams.KeptScratch).
CACHE_SWEEP = (60, 600)
BRUSH_RADIUS = 18  # canvas pixels; the canvas is 768-1024 px wide, so a stroke is ~3.5-5 % of the photo
MIN_CANVAS_SIDE = 768  # small photos are shown enlarged so the brush feels the same on every photo
NO_PHOTO = (
    "Add a photo first: drop it on the editor, click the editor to choose a file, or paste it (Ctrl+V)."
)
# Repeated in every update of the button: Gradio 6.31 blanks a label on an interactive-only update.
REMOVE_LABEL = "Remove"
KEEP_LABEL = "Keep editing this result"
BRUSH = " with the pink brush"  # how a page user paints, in normalise.mask_or_prompt_problem's sentences
CANVAS_LOST = (
    "The editor no longer shows your photo (Undo or the bin took it away), so nothing was sent. "
    "Press Redo to bring it back, or drop the photo again."
)
log = logging.getLogger("novita_ui.ui")


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


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """One finished removal, as the results panel and the history show it."""

    file: Path  # full resolution, in the chosen format, named <stem>-cleaned.<ext>
    before: Path  # previews for the before/after slider
    after: Path
    source_name: str
    size: tuple[int, int]
    engine: Engine
    output_format: imaging.OutputFormat
    task_id: str | None
    downscaled: bool
    seconds: float
    round: int = 1  # 1 for a session's first result, then 2, 3...
    finished: str = ""  # local server time, HH:MM:SS
    method: local.Method | None = None  # the offline method that ran
    flattened: bool = False  # transparency laid on white for JPEG
    # Where the click's time went, for the page's benchmark (bench_browser): epoch stamps ("received",
    # "answered") and seconds per step on the server.
    phases: dict[str, Any] = field(default_factory=dict)

    def engine_label(self) -> str:
        """ "Offline (Texture)", "Novita Eraser"..."""
        label = next(k for k, v in JOB_LABELS.items() if v == self.engine)
        quality = next((k for k, v in QUALITY_LABELS.items() if v == self.method), None)
        return f"{label} ({quality})" if quality else label

    def caption(self) -> str:
        """A short line for the history gallery: which round, when, which engine, which file."""
        when = f" · {self.finished}" if self.finished else ""
        return f"#{self.round}{when} · {self.engine_label()} · {self.file.name}"

    def info(self) -> str:
        """JSON describing the result (read by the browser tests)."""
        return json.dumps(
            {
                "name": self.file.name,
                "size": list(self.size),
                "format": self.output_format,
                "engine": self.engine,
                "method": self.method,
                "flattened": self.flattened,
                "round": self.round,
                "task_id": self.task_id,
                "downscaled": self.downscaled,
                "seconds": round(self.seconds, 3),
                "phases": self.phases,
            }
        )


def next_round(history: Sequence[Outcome]) -> int:
    """The number of the session's next result (history is newest first)."""
    return max((item.round for item in history), default=0) + 1


def unique_name(name: str, history: Sequence[Outcome]) -> str:
    """``photo-cleaned.jpg``, then ``photo-cleaned-2.jpg``... so every download of a session is told apart."""
    taken = {item.file.name for item in history}
    number = 1
    while numbered_name(name, number) in taken:
        number += 1
    return numbered_name(name, number)


def quality_of(label: str | None) -> local.Choice:
    """The offline method for a quality label (the shared default when none is given)."""
    try:
        return QUALITY_LABELS[label or DEFAULT_QUALITY]
    except KeyError:
        raise InputError(f"Unknown quality {label!r}: choose one of {', '.join(QUALITY_LABELS)}.") from None


def engine_of(label: str | None) -> Engine:
    """The service's engine for a radio label."""
    try:
        return ENGINE_LABELS[label or ""]
    except KeyError:
        raise InputError(f"Unknown engine {label!r}: choose one of {', '.join(ENGINE_LABELS)}.") from None


def canvas_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The working canvas for a photo: longer side between MIN_CANVAS_SIDE and max_side, same aspect."""
    w, h = size
    target = min(max(max(w, h), min(MIN_CANVAS_SIDE, max_side)), max_side)
    scale = target / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def progress_text(progress: TaskProgress) -> str:
    """One status line for a running Novita task."""
    if progress.note:
        return progress.note
    if progress.status == "queued":
        text = "Queued at Novita"
    elif progress.status == "processing":
        text = "Processing at Novita"
        if progress.percent is not None:
            text += f": {progress.percent:.0f} %"
    elif progress.status == "succeeded":
        return "Novita finished; downloading the result..."
    else:
        text = "Waiting for Novita"
    if progress.eta and progress.status in ("queued", "processing"):
        text += f", about {progress.eta:.0f} s left"
    return text + f" (task {progress.task_id})"


def error_title(error: NovitaUIError) -> str:
    """The toast title for an error class."""
    if isinstance(error, MissingAPIKeyError):
        return "API key needed"
    if isinstance(error, AuthenticationError):
        return "API key rejected"
    if isinstance(error, RateLimitError):
        return "Rate limited"
    if isinstance(error, TaskError):
        return "Novita task failed"
    if isinstance(error, InputError):
        return "Cannot remove yet"
    return "Novita failed"


def user_message(error: NovitaUIError, *, own_key: bool = False, in_page: bool = True) -> str:
    """What the user reads: the error's own sentence, said for them (whose key, what they can do).

    ``in_page``: a browser tab (type a key, choose Offline) rather than an API caller (pass api_key, call
    /local). Advice only the server's operator can follow (environment variables) goes to the log."""
    text = str(error).strip()
    typed, offline = (
        ("type it in *Novita API key*", "choose **Offline**") if in_page else ("pass api_key", "call /local")
    )
    if isinstance(error, MissingAPIKeyError):
        log.warning("a visitor asked for a Novita engine; set NOVITA_API_KEY to let visitors use it keyless")
        return (
            f"This server has no Novita API key, so Novita needs yours: {typed} ({KEY_HELP}), or {offline}."
        )
    if isinstance(error, AuthenticationError):
        code = f"{error.status_code} {error.reason}" if error.reason else str(error.status_code)
        if own_key:
            return (
                f"Novita rejected the API key you typed ({code}). Check that it is correct and active "
                f"({KEY_HELP}), or {offline}."
            )
        log.warning("Novita rejected the server's NOVITA_API_KEY (%s): replace it", code)
        return (
            f"Novita rejected this server's API key ({code}); the problem is not on your side. Use your own "
            f"key ({typed}), or {offline}."
        )
    if isinstance(error, TaskError) and "try" not in text.lower():
        end = "" if text.endswith((".", "!", "?")) else "."
        text += f"{end} Try again, or try the other Novita engine; quote the task id if you contact Novita."
    return text


def engine_note(label: str, user_key: str, server_key: bool) -> str:
    """The hint under the engine choice (the page computes the same in JS as the user types)."""
    if label == "Offline":
        return "Runs on this server, no key needed. Paint over what should go (the prompt is not used)."
    if not user_key.strip() and not server_key:
        return f"**{label} needs a Novita API key:** paste yours in *Novita API key* below. {KEY_HELP}."
    if label == "Novita Eraser":
        return "Paint over what should go, describe it in the prompt (e.g. dog), or both."
    return "Paint over what should go (the prompt is not used)."


def painted_mask(layer_files: Sequence[str], size: tuple[int, int]) -> imaging.Array | None:
    """The union of the editor's stroke layers at the canvas size, or None when nothing is painted."""
    layers = []
    for path in layer_files:
        with Image.open(path) as image:
            layers.append(np.asarray(image.convert("RGBA")))
    if not layers:
        return None
    mask = imaging.mask_from_layers(layers, size)
    return mask if mask.any() else None


def make_preview(photo: imaging.Photo, size: tuple[int, int]) -> bytes:
    """The working-canvas image: the photo at ``size``, JPEG (PNG when it has transparency)."""
    rgb = imaging.resize(photo.rgb, size) if size != photo.size else photo.rgb
    alpha = None
    if photo.alpha is not None:
        alpha = imaging.resize(photo.alpha, size) if size != photo.size else photo.alpha
    return imaging.encode_output(rgb, "png" if alpha is not None else "jpeg", alpha=alpha)


def result_preview(data: bytes, size: tuple[int, int]) -> bytes:
    """The result at canvas size, for the after side of the slider and the history."""
    rgb, alpha = imaging.decode_preview(data, max(size))
    if (rgb.shape[1], rgb.shape[0]) != size:
        rgb = imaging.resize(rgb, size)
        alpha = None if alpha is None else imaging.resize(alpha, size)
    return imaging.encode_output(rgb, "png" if alpha is not None else "jpeg", alpha=alpha)


def read_optional(path: str | os.PathLike[str] | None) -> bytes | None:
    """The file's bytes, or None when no file was given."""
    return None if not path else Path(path).read_bytes()


def image_size(path: str) -> tuple[int, int]:
    """(width, height) of an image file, read from its header."""
    with Image.open(path) as image:
        return image.size
