"""What the page says: engine and quality labels, button labels, status and refusal sentences (no gradio)."""

from __future__ import annotations

from novita_ui.errors import InputError
from novita_ui.normalise import Engine
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

FLATTENED = (
    "The photo's transparent areas were laid on white: JPEG has no transparency. "
    "Choose png or webp to keep them."
)

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


def engine_note(label: str, user_key: str, server_key: bool) -> str:
    """The hint under the engine choice (the page computes the same in JS as the user types)."""
    if label == "Offline":
        return "Runs on this server, no key needed. Paint over what should go (the prompt is not used)."
    if not user_key.strip() and not server_key:
        return f"**{label} needs a Novita API key:** paste yours in *Novita API key* below. {KEY_HELP}."
    if label == "Novita Eraser":
        return "Paint over what should go, describe it in the prompt (e.g. dog), or both."
    return "Paint over what should go (the prompt is not used)."
