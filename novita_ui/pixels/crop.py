"""What part of a photo goes to Novita, and how its answer is put back. Pure numpy/Pillow, no I/O.

A photo within Novita's limits (16 MP, 30 MB) goes out whole, as its own bytes when it can. Above the
limits, a removal with a mask sends ONE crop around all of the mask (one paid task), at full resolution
when it fits and otherwise scaled down by the smallest factor that fits: the removed area keeps the detail
that shrinking the whole photo would smear. Prompt-only removals (or the "whole photo" option) send the
whole photo, downscaled.

Only the mask's bounding box and that part of the mask are kept afterwards (:class:`MaskPatch`): the full
mask of a 100 MP photo is 100 MB, and nothing outside its box is ever pasted.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, JpegImagePlugin

from novita_ui.pixels import imaging, results

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in upright full-resolution pixels; x1, y1 exclusive

# Context around the mask. The model fills the hole from what it sees around it, so each side gets at least
# the mask's own extent on that axis (a 300 px object is seen inside 900 px), and the crop is never under
# 1024 px on a side when the photo allows: the size these models work at, so a small object still comes with
# a scene. For a 1 % single-blob mask that is ~9 % of the photo: 100 MP still goes out at full resolution.
MIN_CROP_SIDE = 1024


@dataclass(frozen=True)
class Region:
    """The rectangle of the photo that was sent, and the size it went out at."""

    box: Box
    sent_size: tuple[int, int]
    photo_size: tuple[int, int]

    @property
    def scale(self) -> float:
        """Sent pixels per original pixel (1.0 = full resolution)."""
        return round(self.sent_size[0] / (self.box[2] - self.box[0]), 4)

    @property
    def whole(self) -> bool:
        """True when the whole photo was sent."""
        return self.box == (0, 0, *self.photo_size)

    def record(self) -> dict[str, object]:
        """For the result info and the sidecar: what was sent, where, at which scale."""
        sent = "whole photo" if self.whole else "crop"
        return {"sent": sent, "crop_box": list(self.box), "scale": self.scale}


@dataclass(frozen=True)
class MaskPatch:
    """A mask kept as its bounding box and the pixels inside it (it is zero everywhere else)."""

    box: Box
    pixels: imaging.Array

    @classmethod
    def of(cls, mask: imaging.Array) -> MaskPatch:
        """The patch of a full-size {0,255} mask that is not empty."""
        box = mask_box(mask)
        x0, y0, x1, y1 = box
        return cls(box, mask[y0:y1, x0:x1].copy())  # a copy: a view would keep the full mask alive


def mask_box(mask: imaging.Array) -> Box:
    """The bounding box of the mask's set pixels."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _span(lo: int, hi: int, limit: int) -> tuple[int, int]:
    """[lo, hi) widened by its own length each side, to at least MIN_CROP_SIDE, kept inside [0, limit)."""
    length = hi - lo
    want = min(limit, max(3 * length, MIN_CROP_SIDE))
    start = max(0, min(lo - (want - length) // 2, limit - want))
    return start, start + want


def crop_box(mask: Box, photo_size: tuple[int, int]) -> Box:
    """The crop sent for a mask with this bounding box (see MIN_CROP_SIDE for the margin's reasons)."""
    (x0, x1), (y0, y1) = _span(mask[0], mask[2], photo_size[0]), _span(mask[1], mask[3], photo_size[1])
    return x0, y0, x1, y1


def above_limits(photo: imaging.Photo) -> bool:
    """True when Novita would not take the photo as it is (pixels or file size)."""
    w, h = photo.size
    return w * h > imaging.MAX_SEND_PIXELS or len(photo.data) > imaging.MAX_SEND_BYTES


def choose_box(photo: imaging.Photo, mask: imaging.Array | None, whole_photo: bool) -> Box:
    """Whole photo within the limits, without a mask, or when asked; else the crop around the mask."""
    if mask is None or whole_photo or not above_limits(photo):
        return (0, 0, *photo.size)
    return crop_box(mask_box(mask), photo.size)


def payload_for(photo: imaging.Photo, mask: imaging.Array | None, box: Box) -> tuple[imaging.Payload, Region]:
    """The bytes sent for this box: the photo's own bytes when they fit as they are, else an encoded crop."""
    if box == (0, 0, *photo.size):
        # The photo's own bytes when they can go as they are; else JPEG q95, downscaled to fit.
        payload = imaging.prepare_payload(photo, mask)
        return payload, Region(box, payload.size, photo.size)
    x0, y0, x1, y1 = box
    rgb = photo.rgb[y0:y1, x0:x1]
    alpha = None if photo.alpha is None else photo.alpha[y0:y1, x0:x1]
    part = None if mask is None else mask[y0:y1, x0:x1]
    width, height = x1 - x0, y1 - y0
    tables = _jpeg_tables(photo)

    def encode(size: tuple[int, int]) -> tuple[bytes, str]:
        return _encode_crop(_scaled(rgb, size), None if alpha is None else _scaled(alpha, size), tables)

    data, mime, size = imaging.fit_send_limits((width, height), encode)
    small = None if part is None else _scaled_mask(part, size)
    encoded = None if small is None else imaging.encode_mask(small)
    payload = imaging.Payload(data, mime, encoded, size, size != (width, height))
    return payload, Region(box, size, photo.size)


def _scaled(pixels: imaging.Array, size: tuple[int, int]) -> imaging.Array:
    return pixels if (pixels.shape[1], pixels.shape[0]) == size else imaging.resize(pixels, size)


def _scaled_mask(mask: imaging.Array, size: tuple[int, int]) -> imaging.Array:
    return mask if (mask.shape[1], mask.shape[0]) == size else imaging.resize_mask_down(mask, size)


def _jpeg_tables(photo: imaging.Photo) -> dict[str, object] | None:
    """A JPEG's quantisation tables and chroma subsampling: a crop encoded with them matches its quality."""
    if photo.format != "JPEG" or photo.mode != "RGB":
        return None
    with Image.open(io.BytesIO(photo.data)) as source:  # header only: the tables, not the pixels
        assert isinstance(source, JpegImagePlugin.JpegImageFile)
        sampling = JpegImagePlugin.get_sampling(source)
        if sampling < 0 or not source.quantization:
            return None
        return {"qtables": source.quantization, "subsampling": sampling}


def _encode_crop(
    rgb: imaging.Array, alpha: imaging.Array | None, tables: dict[str, object] | None
) -> tuple[bytes, str]:
    """A JPEG's crop at its own quality; anything else lossless (PNG), JPEG q95 only if PNG is too big."""
    buffer = io.BytesIO()
    if tables is not None and alpha is None:
        # optimize: Huffman tables fitted to this crop, ~6 % fewer bytes for the very same pixels.
        Image.fromarray(rgb).save(buffer, "JPEG", optimize=True, **tables)
        return buffer.getvalue(), "image/jpeg"
    image = Image.fromarray(rgb if alpha is None else np.dstack([rgb, alpha]))
    image.save(buffer, "PNG", compress_level=1)
    if len(buffer.getvalue()) <= imaging.MAX_SEND_BYTES or alpha is not None:
        return buffer.getvalue(), "image/png"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, subsampling="4:4:4")
    return buffer.getvalue(), "image/jpeg"


def result_patch(result: imaging.Array, region: Region, target: Box) -> imaging.Array:
    """The part of a result for ``region`` that covers ``target`` (inside region.box), at full resolution."""
    rx0, ry0, rx1, ry1 = region.box
    tx0, ty0, tx1, ty1 = target
    sx, sy = result.shape[1] / (rx1 - rx0), result.shape[0] / (ry1 - ry0)
    if sx == sy == 1.0:
        return result[ty0 - ry0 : ty1 - ry0, tx0 - rx0 : tx1 - rx0]
    # Map only the target's pixels (pixel centres, as cv2.resize does): resizing the whole result of a
    # downscaled 100 MP photo back to full size would take 300 MB for a mask of a few hundred pixels.
    matrix = np.array([[sx, 0, (tx0 - rx0 + 0.5) * sx - 0.5], [0, sy, (ty0 - ry0 + 0.5) * sy - 0.5]])
    flags = (cv2.INTER_CUBIC if sx < 1 else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
    size = (tx1 - tx0, ty1 - ty0)
    warped = cv2.warpAffine(result, matrix, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(warped, dtype=np.uint8)


def paste_back(original: imaging.Array, result: imaging.Array, region: Region, patch: MaskPatch) -> None:
    """Put the result's masked pixels into ``original`` (in place); every other pixel stays the original's."""
    x0, y0, x1, y1 = patch.box
    part = result_patch(result, region, patch.box)
    original[y0:y1, x0:x1] = results.paste_masked(original[y0:y1, x0:x1], part, patch.pixels)
