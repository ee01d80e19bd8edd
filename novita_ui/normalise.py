"""Raw values from a front end (a text box, a flag, an API argument) made into what a removal needs, once.

:class:`~novita_ui.service.RemoveRequest` calls these on construction; front ends pass raw values.
"""

from __future__ import annotations

import mimetypes
from pathlib import PurePath
from typing import Literal

from novita_ui.errors import InputError
from novita_ui.pixels.imaging import OutputFormat, checked_format

# The engines' names, stated once: service requests, the CLI's and batch's choices; page labels map here.
Engine = Literal["eraser", "cleanup", "remove-text", "local"]
ENGINES: tuple[Engine, ...] = ("eraser", "cleanup", "remove-text", "local")
FORMAT_BY_SUFFIX: dict[str, OutputFormat] = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}


def numbered_name(name: str, number: int) -> str:
    """The ``number``-th file of one name: ``photo-cleaned.jpg``, then ``photo-cleaned-2.jpg``, ``-3``..."""
    if number <= 1:
        return name
    path = PurePath(name)
    return path.with_name(f"{path.stem}-{number}{path.suffix}").name


def text_or_none(value: str | None) -> str | None:
    """A free-text field: stripped, and None when nothing is left."""
    return (value or "").strip() or None


def parse_format(value: str | None, default: OutputFormat = "jpeg") -> OutputFormat:
    """``" JPG "`` -> ``"jpeg"``; empty -> ``default``; anything else is an InputError."""
    fmt = (text_or_none(value) or default).lower()
    return checked_format("jpeg" if fmt == "jpg" else fmt, as_given=value)


def format_for_path(path: str | PurePath, default: OutputFormat) -> OutputFormat:
    """The output format a file name asks for by its suffix (``.jpg`` -> jpeg), else ``default``."""
    return FORMAT_BY_SUFFIX.get(PurePath(path).suffix.lower(), default)


def output_format_for(path: str | PurePath, flag: str | None, default: OutputFormat) -> OutputFormat:
    """The format of an output file: ``flag`` (``--format``), else the name's suffix, else ``default``.

    A name whose suffix is an image format results are not written in (``photo.avif``, ``.heic``, ``.gif``)
    is an InputError: JPEG bytes under that name would be a file that lies about what it is.
    """
    name = PurePath(path)
    suffix = name.suffix.lower()
    kind = mimetypes.guess_type(name.name)[0] or ""
    if suffix not in FORMAT_BY_SUFFIX and kind.startswith("image/"):
        raise InputError(
            f"cannot write {name.name}: results are JPEG, PNG or WebP. Name the output .jpg, .png or .webp."
        )
    return parse_format(flag) if flag else FORMAT_BY_SUFFIX.get(suffix, default)


FILE_MASK = "Paint over what should be removed (white = remove)"  # masks as files: the CLI, batch, the API


def mask_or_prompt_problem(engine: str, has_mask: bool, prompt: str | None, *, brush: str = "") -> str | None:
    """The one rule for what an engine needs: a mask, or for the eraser a mask and/or a prompt.

    Returns the sentence for the user when the rule is broken, None when it holds. ``brush`` says how this
    front end's user paints (the page: " with the pink brush"); without it, masks are files (white = remove).
    Remove-text needs neither: Novita finds the text itself.
    """
    if engine == "remove-text":
        return None
    if engine == "local" and prompt and not has_mask:
        return (
            f"The Offline engine cannot find objects from a description. Paint over what should go{brush}, "
            "or choose Novita Eraser to remove it by prompt."
        )
    if not has_mask and not (engine == "eraser" and prompt):
        paint = f"Paint over what should go{brush}" if brush else FILE_MASK
        return paint + (", or describe it in the prompt." if engine == "eraser" else ".")
    return None


def shrunk_away(grow: int) -> str:
    """The sentence for a mask that a shrink (``grow`` < 0) took away entirely."""
    return (
        f"Shrinking the mask by {-grow} px left nothing of it: shrink it less (a grow closer to 0), "
        "or paint a wider area."
    )


def grow_from(grow: int, shrink: int) -> int:
    """One signed grow (px; negative shrinks) from a front end's --grow and --shrink."""
    return int(grow) - abs(int(shrink))
