"""Edit a JPEG in the DCT domain: only the 8 x 8 blocks whose pixels changed are re-encoded.

The original's quantised coefficients are read (``jpeglib``: libjpeg's own coefficient API), the changed
area is encoded again with the original's quantisation tables and chroma sampling (Pillow), and only the
blocks covering changed pixels are copied over. Every other block stays bit-identical, so its pixels decode
exactly as before, however often the photo is edited. The edit happens in the file's stored frame: an
EXIF-rotated photo keeps its orientation tag instead of having its pixels turned and re-encoded.

What cannot take this path raises :class:`Unsupported` with the reason; the caller re-encodes instead.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image, JpegImagePlugin

from .imaging import Array

_ORIENTATION_TAG = 0x0112
# Pillow can encode these samplings (h, v factors of luma; chroma is 1 x 1).
_SAMPLINGS = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0"}
_LIBJPEG = "turbo210"  # of the builds jpeglib bundles, the fastest at reading and writing coefficients here
_LIBRARY_LOCK = threading.Lock()


class Unsupported(Exception):
    """This JPEG cannot be block-edited (the message says why); re-encode it instead."""


@dataclass(frozen=True)
class _Source:
    """What the block edit needs to know about the original file."""

    image: JpegImagePlugin.JpegImageFile  # header only
    orientation: int
    sampling: str | None  # None for greyscale
    mcu: tuple[int, int]  # (width, height) in pixels of one MCU


def block_edit(original: bytes, before: Array, after: Array) -> bytes:
    """The original JPEG with only the blocks where ``after`` differs from ``before`` re-encoded.

    ``before`` is the decoded original and ``after`` the edited photo, both upright RGB (EXIF orientation
    applied), as :func:`imaging.open_photo` gives them.
    """
    source = _inspect(original)
    upright_box = _changed_box(before, after)
    if upright_box is None:
        return original  # nothing changed: the file itself is the exact answer
    x0, y0, x1, y1 = upright_box
    local = np.any(before[y0:y1, x0:x1] != after[y0:y1, x0:x1], axis=2)
    height, width = before.shape[:2]
    sx0, sy0, sx1, sy1 = _box_to_stored(upright_box, source.orientation, (width, height))
    stored = _to_stored(after, source.orientation)
    box = _align(
        (sx0, sy0, sx1, sy1), source.mcu, (stored.shape[1], stored.shape[0])
    )  # whole MCUs, so the patch's block grid is the original's
    changed = np.zeros((box[3] - box[1], box[2] - box[0]), dtype=bool)
    changed[sy0 - box[1] : sy1 - box[1], sx0 - box[0] : sx1 - box[0]] = _to_stored(local, source.orientation)
    patch = np.ascontiguousarray(stored[box[1] : box[3], box[0] : box[2]])
    try:
        coded = _edit_files(original, patch, changed, box, source)
    except (OSError, RuntimeError) as error:  # libjpeg refused a file Pillow decoded: re-encode instead
        raise Unsupported(f"libjpeg could not edit it ({error})") from None
    return _with_metadata(coded, original)


def _edit_files(
    original: bytes, pixels: Array, changed: Any, box: tuple[int, int, int, int], source: _Source
) -> bytes:
    """The coded data (no metadata) with the blocks covering changed pixels taken from an encode of pixels."""
    with tempfile.TemporaryDirectory(prefix="novita-jpeg-") as folder:
        jpeg = _read_dct(original, os.path.join(folder, "original.jpg"))
        patch = _read_dct(_encode_patch(pixels, source), os.path.join(folder, "patch.jpg"))
        _check_compatible(jpeg, patch)
        for index, name in enumerate(_components(jpeg)):
            _copy_blocks(jpeg, patch, index, name, changed, box)
        jpeg.markers = []  # the original's metadata segments are put back below, byte for byte
        out_path = os.path.join(folder, "edited.jpg")
        jpeg.write_dct(out_path)
        with open(out_path, "rb") as file:
            return file.read()


def _changed_box(before: Array, after: Array) -> tuple[int, int, int, int] | None:
    """The box (x0, y0, x1, y1) around every pixel that differs, or None (~25 ms at 12 MP)."""
    height, width = before.shape[:2]
    diff = cv2.absdiff(before, after).reshape(height, width * 3)  # 15x faster than numpy's !=
    rows = diff.max(axis=1) > 0
    if not rows.any():
        return None
    cols = diff.max(axis=0).reshape(width, 3).max(axis=1) > 0
    y0, y1 = int(np.argmax(rows)), height - int(np.argmax(rows[::-1]))
    x0, x1 = int(np.argmax(cols)), width - int(np.argmax(cols[::-1]))
    return x0, y0, x1, y1


def _box_to_stored(
    box: tuple[int, int, int, int], orientation: int, size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """An upright box (x0, y0, x1, y1) in the stored frame; ``size`` is the upright (width, height)."""
    width, height = size
    xs, ys = (box[0], box[2]), (box[1], box[3])
    flip_x, flip_y = (width - xs[1], width - xs[0]), (height - ys[1], height - ys[0])
    stored_x, stored_y = {
        1: (xs, ys),
        2: (flip_x, ys),
        3: (flip_x, flip_y),
        4: (xs, flip_y),
        5: (ys, xs),
        6: (ys, flip_x),
        7: (flip_y, flip_x),
        8: (flip_y, xs),
    }[orientation]
    return stored_x[0], stored_y[0], stored_x[1], stored_y[1]


def _align(
    box: tuple[int, int, int, int], mcu: tuple[int, int], size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The box grown to whole MCUs (clipped to the image)."""
    (mw, mh), (width, height) = mcu, size
    x0, y0, x1, y1 = box
    return x0 // mw * mw, y0 // mh * mh, min(width, -(-x1 // mw) * mw), min(height, -(-y1 // mh) * mh)


def _inspect(original: bytes) -> _Source:
    """Read the header and refuse what the block path cannot reproduce exactly."""
    image = Image.open(io.BytesIO(original))
    if not isinstance(image, JpegImagePlugin.JpegImageFile) or image.format != "JPEG":
        raise Unsupported(f"the source is {image.format}, not JPEG")
    if image.mode == "CMYK":
        raise Unsupported("CMYK JPEG: the encoder writes only greyscale and YCbCr")
    if image.mode not in ("RGB", "L"):
        raise Unsupported(f"{image.mode} JPEG")
    sampling, factors = None, (1, 1)
    if image.mode == "RGB":
        layers = getattr(image, "layer", [])
        factors = (layers[0][1], layers[0][2]) if layers else (0, 0)
        chroma_full = all(layer[1:3] == (1, 1) for layer in layers[1:])
        sampling = _SAMPLINGS.get(factors) if chroma_full else None
        if sampling is None or JpegImagePlugin.get_sampling(image) == -1:
            raise Unsupported(f"chroma sampling {factors} (luma h x v) that the encoder cannot reproduce")
    orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    mcu = (8 * factors[0], 8 * factors[1])
    return _Source(image, orientation if orientation in range(1, 9) else 1, sampling, mcu)


def _to_stored(upright: Any, orientation: int) -> Any:
    """Map an upright array back to the frame the file stores (the inverse of EXIF orientation)."""
    turns = {3: 2, 6: 1, 8: 3}  # stored = rot90(upright, k) for the pure rotations
    if orientation in turns:
        return np.rot90(upright, turns[orientation])
    if orientation == 2:
        return upright[:, ::-1]
    if orientation == 4:
        return upright[::-1]
    if orientation == 5:
        return np.swapaxes(upright, 0, 1)
    if orientation == 7:
        return np.swapaxes(upright[::-1, ::-1], 0, 1)
    return upright


def _read_dct(data: bytes, path: str) -> Any:
    """Read a JPEG's quantised coefficients (jpeglib works on files)."""
    import jpeglib  # a 23 MB native library: load it only when a JPEG is edited

    with _LIBRARY_LOCK:  # the build is chosen process-wide: never swap it under a running edit
        if jpeglib.version.get() != _LIBJPEG:
            jpeglib.version.set(_LIBJPEG)
    with open(path, "wb") as file:
        file.write(data)
    jpeg = jpeglib.read_dct(path)
    jpeg.load()
    return jpeg


def _components(jpeg: Any) -> Iterator[str]:
    yield "Y"
    if jpeg.has_chrominance:
        yield "Cb"
        yield "Cr"


def _encode_patch(pixels: Array, source: _Source) -> bytes:
    """The edited pixels of the box, encoded with the original's tables and sampling."""
    patch = Image.fromarray(pixels)
    options: dict[str, Any] = {"qtables": source.image.quantization}
    if source.sampling is None:
        patch = patch.convert("L")
    else:
        options["subsampling"] = source.sampling
    buffer = io.BytesIO()
    patch.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _check_compatible(jpeg: Any, patch: Any) -> None:
    """The patch's blocks mean the same as the original's only with the same colours, sampling and tables."""
    if jpeg.jpeg_color_space != patch.jpeg_color_space:
        raise Unsupported(f"colour space {jpeg.jpeg_color_space} that the encoder does not write")
    if not np.array_equal(jpeg.samp_factor, patch.samp_factor):
        raise Unsupported("the encoder did not reproduce the chroma sampling")
    for index, _ in enumerate(_components(jpeg)):
        if not np.array_equal(jpeg.get_component_qt(index), patch.get_component_qt(index)):
            raise Unsupported("the encoder did not reproduce the quantisation tables")


def _copy_blocks(
    jpeg: Any, patch: Any, index: int, name: str, changed: Any, box: tuple[int, int, int, int]
) -> None:
    """Copy the patch's blocks that cover a changed pixel (``changed`` spans the box) into the original."""
    target, source = getattr(jpeg, name), getattr(patch, name)
    factors = np.asarray(jpeg.samp_factor)  # rows of (v, h)
    v, h = (int(f) for f in factors[index])
    bw, bh = 8 * int(factors[:, 1].max()) // h, 8 * int(factors[:, 0].max()) // v  # pixels per block
    rows, cols = -(-changed.shape[0] // bh), -(-changed.shape[1] // bw)
    grid = np.zeros((rows * bh, cols * bw), dtype=bool)
    grid[: changed.shape[0], : changed.shape[1]] = changed
    touched: Any = grid.reshape(rows, bh, cols, bw).any(axis=(1, 3))
    x0, y0 = box[0] // bw, box[1] // bh
    ph = min(rows, source.shape[0], target.shape[0] - y0)
    pw = min(cols, source.shape[1], target.shape[1] - x0)
    region = touched[:ph, :pw]
    target[y0 : y0 + ph, x0 : x0 + pw][region] = source[:ph, :pw][region]
    setattr(jpeg, name, target)


def _segments(data: bytes) -> tuple[list[bytes], int]:
    """The header segments before the first scan (each with its marker) and where the scan starts."""
    segments, pos = [], 2  # after SOI
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the entropy-coded data follows
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segments.append(data[pos : pos + 2 + length])
        pos += 2 + length
    return segments, pos


def _is_metadata(segment: bytes) -> bool:
    return 0xE0 <= segment[1] <= 0xEF or segment[1] == 0xFE  # APPn and COM


def _with_metadata(coded: bytes, original: bytes) -> bytes:
    """The coded file with its own APPn/COM segments replaced by the original's (EXIF without thumbnail)."""
    kept = [_without_thumbnail(s) for s in _segments(original)[0] if _is_metadata(s)]
    coding, scan = _segments(coded)
    return b"".join([b"\xff\xd8", *kept, *(s for s in coding if not _is_metadata(s)), coded[scan:]])


def _without_thumbnail(segment: bytes) -> bytes:
    """An EXIF segment rewritten without its thumbnail (it shows what was removed); others unchanged."""
    payload = segment[4:]
    if segment[1] != 0xE1 or not payload.startswith(b"Exif\x00\x00"):
        return segment
    exif = Image.Exif()
    exif.load(payload)
    if not exif.get_ifd(-1):  # IFD1 holds the thumbnail; no IFD1, nothing stale to drop
        return segment
    fresh = Image.Exif()
    fresh.load(payload)
    data = fresh.tobytes()  # Pillow writes IFD0 and its sub-IFDs, not IFD1
    if len(data) + 2 > 0xFFFF:
        return segment
    return b"\xff\xe1" + (len(data) + 2).to_bytes(2, "big") + data
