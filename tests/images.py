"""Test images made in code: photo-like pixels, masks and encoded files (no binaries in the repository)."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from PIL import Image


def photo_like(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth colour fields plus grain: compresses and decodes like a real photo."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, (max(2, height // 32), max(2, width // 32), 3), dtype=np.uint8)
    base = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    base += rng.integers(-10, 11, (height, width, 3), dtype=np.int16)  # grain
    # In place: a 48 MP photo took 3.6 s to make with fresh arrays for each step, 2 s like this.
    pixels: np.ndarray = np.clip(base, 0, 255, out=base).astype(np.uint8)
    return pixels


def encode(pixels: np.ndarray | Image.Image, fmt: str = "JPEG", **options: Any) -> bytes:
    """Encode an array or PIL image (JPEG quality 92 unless told otherwise)."""
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    if fmt == "JPEG":
        options.setdefault("quality", 92)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg_with_orientation(pixels: np.ndarray, orientation: int) -> bytes:
    """A JPEG whose EXIF asks viewers to rotate it (pixels are stored as given)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"  # Make: must survive into the output
    return encode(pixels, "JPEG", exif=exif.tobytes())


def box_mask(width: int, height: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """A {0,255} mask with the (x0, y0, x1, y1) box set."""
    mask = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 255
    return mask


def decode(data: bytes) -> tuple[str, np.ndarray]:
    """(Pillow format name, RGB array) of encoded bytes."""
    image = Image.open(io.BytesIO(data))
    fmt = image.format or ""
    return fmt, np.asarray(image.convert("RGB"))


def phone_photo(
    pixels: np.ndarray, fmt: str = "HEIF", orientation: int = 1, icc: bytes | None = None
) -> bytes:
    """A HEIC ("HEIF") or AVIF file as a phone saves it: EXIF with a Make and an orientation, maybe ICC."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestPhone"
    options: dict[str, Any] = {"exif": exif.tobytes(), "quality": 90}
    if icc:
        options["icc_profile"] = icc
    return encode(pixels, fmt, **options)


def srgb_profile() -> bytes:
    """An sRGB ICC profile made by Pillow (no file needed)."""
    from PIL import ImageCms

    profile: bytes = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return profile


def page_read(
    layers: Sequence[str | os.PathLike[str]], canvas: str | os.PathLike[str] | None
) -> dict[str, Any]:
    """What the page script reads from the editor at a click (assets/page.py ``_READ_EDITOR``): each stroke
    layer as a PNG data URL, and the canvas printed at a quarter of its size (None: no canvas)."""

    def url(image: Image.Image) -> str:
        out = io.BytesIO()
        image.save(out, "PNG")
        return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()

    def quarter(path: str | os.PathLike[str]) -> str:
        with Image.open(path) as image:
            small = (image.width // 4, image.height // 4)
            return url(image.convert("RGBA").resize(small, Image.Resampling.BILINEAR))

    shots = []
    for layer in layers:
        with Image.open(layer) as image:
            shots.append(url(image.convert("RGBA")))
    return {"layers": shots, "canvas": None if canvas is None else quarter(canvas)}
