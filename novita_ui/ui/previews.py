"""The editor's working images: the canvas size and the photo at that size (a result's preview comes from
the worker that made the result: pixels/preview.of_result)."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from novita_ui.pixels import imaging, preview

BRUSH_RADIUS = 18  # canvas pixels; the canvas is 768-1024 px wide, so a stroke is ~3.5-5 % of the photo
MIN_CANVAS_SIDE = 768  # small photos are shown enlarged so the brush feels the same on every photo


def canvas_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The working canvas for a photo: longer side between MIN_CANVAS_SIDE and max_side, same aspect."""
    w, h = size
    target = min(max(max(w, h), min(MIN_CANVAS_SIDE, max_side)), max_side)
    scale = target / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def make_preview(photo: imaging.Photo, size: tuple[int, int]) -> bytes:
    """The working-canvas image: the photo at ``size``, JPEG (PNG when it has transparency)."""
    # Made as a result's preview is (one way to shrink and encode): the photo is its own "result", and a
    # format that keeps transparency (png) keeps the canvas's.
    return preview.of_result(photo, photo.rgb, size, "png").data


def read_optional(path: str | os.PathLike[str] | None) -> bytes | None:
    """The file's bytes, or None when no file was given."""
    return None if not path else Path(path).read_bytes()


def image_size(path: str) -> tuple[int, int]:
    """(width, height) of an image file, read from its header."""
    with Image.open(path) as image:
        return image.size
