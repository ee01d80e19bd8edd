"""What the page read from the editor at a click (``assets/page.py``, ``_READ_EDITOR``), decoded and checked.

A job carries the editor's stroke layers (PNGs at the canvas size) and a quarter-size print of the canvas, as
data URLs. They come from the browser, so they are read as untrusted: PNG only, no larger than the canvas.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from novita_ui.errors import InputError
from novita_ui.pixels import imaging

_PREFIX = "data:image/png;base64,"
UNREADABLE = (
    "The page could not read the editor (reload the page, then drop the photo again). Nothing was sent."
)


def _png(url: Any, limit: tuple[int, int]) -> Image.Image:
    """A PNG data URL as an image no larger than ``limit`` (width, height) + 1 px of rounding."""
    if not isinstance(url, str) or not url.startswith(_PREFIX):
        raise InputError(UNREADABLE)
    try:
        image = Image.open(io.BytesIO(base64.b64decode(url[len(_PREFIX) :], validate=True)), formats=["PNG"])
    except (binascii.Error, OSError, ValueError):
        raise InputError(UNREADABLE) from None
    if image.width > limit[0] + 1 or image.height > limit[1] + 1:
        raise InputError(UNREADABLE)  # decoded nothing yet: the header only
    return image


def painted_strokes(layers: Any, size: tuple[int, int]) -> imaging.Array | None:
    """The union of the stroke layers at the canvas ``size``, or None when nothing is painted."""
    if not isinstance(layers, Sequence) or isinstance(layers, str):
        raise InputError(UNREADABLE)
    arrays = []
    for url in layers:
        with _png(url, size) as image:
            arrays.append(np.asarray(image.convert("RGBA")))
    if not arrays:
        return None
    mask = imaging.mask_from_layers(arrays, size)
    return mask if mask.any() else None


def shows_photo(canvas: Any, shown: Path, size: tuple[int, int]) -> bool:
    """Whether the canvas print still shows the photo the editor was given (``shown``, at ``size``).

    The print is a GPU downscale of the canvas, ours a box filter of the same image: they differ by a few
    levels after a further 4x box reduce, where a blank canvas (the editor's Undo right after loading) or
    another photo differs by far more.
    """
    if canvas is None:
        return False
    with _png(canvas, size) as image:
        printed = _small(image)
    with Image.open(shown) as image:
        if image.format == "JPEG":
            image.draft("RGB", (image.width // 4, image.height // 4))  # decoded at 1/4 straight away
        factor = max(1, round(image.width / max(1, printed.shape[1] * 4)))
        expected = _small(image.reduce(factor) if factor > 1 else image)
    if abs(printed.shape[0] - expected.shape[0]) > 1 or abs(printed.shape[1] - expected.shape[1]) > 1:
        return False  # another shape: another photo
    h, w = min(printed.shape[0], expected.shape[0]), min(printed.shape[1], expected.shape[1])
    return float(np.abs(printed[:h, :w] - expected[:h, :w]).mean()) < 12.0


def _small(image: Image.Image) -> npt.NDArray[np.int16]:
    """RGB laid on white (transparent pixels hold any colour); 4x box-reduced (both sides are compared so)."""
    rgba = image.convert("RGBA")
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return np.asarray(flat.reduce(4), dtype=np.int16)
