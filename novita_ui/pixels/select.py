"""Select an object from a box drawn around it: OpenCV's GrabCut, no model to download.

GrabCut learns a colour model of what is outside the box (certainly background) and inside it (probably
the object) and cuts along the strongest edges between them. It is slow per pixel, so it runs on a crop
around the box shrunk to ``WORK_SIDE`` pixels; its answer is mapped back to the photo's full size through
a smoothed, linearly upscaled copy, so the outline is smooth rather than stair-stepped at 12 MP.

A rough stroke inside the box (``seed``) marks what certainly belongs to the object: GrabCut keeps it and
follows the object outward from it.

Pure numpy/OpenCV, no I/O; pixels follow imaging's convention (uint8 H x W x 3, masks H x W in {0, 255}).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from novita_ui.errors import InputError
from novita_ui.normalise import shrunk_away
from novita_ui.pixels import imaging

# The crop's longer side while GrabCut runs: ~0.1-0.3 s on one core, and fine enough that the outline,
# upscaled smoothly, stays within a pixel or two of the object's edge on a 12 MP photo (bench_select).
WORK_SIDE = 400
ITERATIONS = 5  # GrabCut's own examples use 5; more barely moves the outline on the benchmark's scenes
MARGIN = 0.1  # background taken around the box, as a share of its longer side (colours GrabCut learns)
MIN_MARGIN = 12  # ...at least this many pixels, so a tight box still has a ring of background to learn
MIN_SIDE = 4  # a box narrower than this (in photo pixels) is a click, not a box
SPECK = 0.02  # pieces smaller than this share of the biggest are texture GrabCut mistook: dropped
PINHOLE = 0.002  # holes smaller than this share of the object are texture too: filled


@dataclass(frozen=True)
class Box:
    """A rectangle in photo pixels: ``x0, y0`` inclusive, ``x1, y1`` exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def parse(cls, text: str) -> Box:
        """``"X0,Y0,X1,Y1"`` (as the CLI takes it); corners in any order."""
        parts = [p.strip() for p in str(text).split(",")]
        try:
            x0, y0, x1, y1 = (round(float(p)) for p in parts)
        except (ValueError, OverflowError):  # not a number, NaN, infinity, or not four of them
            raise InputError(
                f"The box {text!r} is not four numbers: give it as X0,Y0,X1,Y1 in pixels, "
                "e.g. 120,80,560,700."
            ) from None
        return cls(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self.y1 - self.y0

    def clipped(self, size: tuple[int, int]) -> Box:
        """The part of the box inside a ``size`` (width, height) photo; InputError when nothing is left."""
        w, h = size
        box = Box(max(0, self.x0), max(0, self.y0), min(w, self.x1), min(h, self.y1))
        if box.width < MIN_SIDE or box.height < MIN_SIDE:
            raise InputError(
                f"The box {self.x0},{self.y0},{self.x1},{self.y1} does not cover an object on this "
                f"{w} x {h} px photo: drag a box around the whole object (corners in pixels, inside the "
                "photo)."
            )
        if box.width >= w and box.height >= h:
            raise InputError(
                "The box covers the whole photo, so nothing tells the object from its background: "
                "drag a box just around the object."
            )
        return box


@dataclass(frozen=True)
class Selection:
    """A selected object's mask, encoded, with what a front end says about it."""

    png: bytes  # 1-bit PNG at the photo's upright size, white = the object
    size: tuple[int, int]  # (width, height)
    share: float  # of the photo's area
    seconds: float  # decode + cut + encode


def select_file(image: bytes, box: Box, *, seed: bytes | None = None, grow: int = 0) -> Selection:
    """``select`` on an encoded photo (upright, as its EXIF says); ``seed`` a mask file; ``grow`` px
    (negative shrinks)."""
    started = time.perf_counter()
    photo = imaging.open_photo(image)
    hint = imaging.load_mask(seed, photo.size) if seed is not None else None
    mask = select(photo.rgb, box, hint)
    if grow:
        mask = imaging.grow_mask(mask, grow)
        if not mask.any():
            raise InputError(shrunk_away(grow))
    png = imaging.encode_mask(mask)
    share = float(np.count_nonzero(mask)) / mask.size
    return Selection(png, photo.size, share, time.perf_counter() - started)


def select(rgb: imaging.Array, box: Box, seed: imaging.Array | None = None) -> imaging.Array:
    """The mask (photo size, 255 = the object) of the object inside ``box``; ``seed`` (optional, photo
    size) marks pixels that certainly belong to it."""
    h, w = rgb.shape[:2]
    box = box.clipped((w, h))
    crop = _crop_around(box, (w, h))
    scale = min(1.0, WORK_SIDE / max(crop.width, crop.height))
    small_size = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
    patch = np.ascontiguousarray(rgb[crop.y0 : crop.y1, crop.x0 : crop.x1, :3])
    small = cv2.resize(patch, small_size, interpolation=cv2.INTER_AREA) if scale < 1 else patch
    labels = np.full((small_size[1], small_size[0]), cv2.GC_BGD, np.uint8)
    inner = _scaled(Box(box.x0 - crop.x0, box.y0 - crop.y0, box.x1 - crop.x0, box.y1 - crop.y0), scale)
    labels[inner.y0 : inner.y1, inner.x0 : inner.x1] = cv2.GC_PR_FGD
    if seed is not None:
        hint = imaging.fit_mask(seed, (w, h))[crop.y0 : crop.y1, crop.x0 : crop.x1]
        sure = cv2.resize(hint, small_size, interpolation=cv2.INTER_AREA) > 127
        labels[sure & (labels == cv2.GC_PR_FGD)] = cv2.GC_FGD
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # OpenCV's GMM is seeded from its own fixed RNG state: the same photo and box give the same mask.
    cv2.setRNGSeed(0)
    cv2.grabCut(small, labels, (0, 0, 0, 0), background, foreground, ITERATIONS, cv2.GC_INIT_WITH_MASK)
    found = np.where((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    found = _tidy(found)
    full = np.zeros((h, w), np.uint8)
    full[crop.y0 : crop.y1, crop.x0 : crop.x1] = _upscaled(found, (crop.width, crop.height), scale)
    # Nothing outside the user's box: the margin was only there to learn the background's colours.
    outside = np.ones((h, w), bool)
    outside[box.y0 : box.y1, box.x0 : box.x1] = False
    full[outside] = 0
    if not full.any():
        raise InputError(
            "Nothing inside the box stood out from its surroundings. Drag the box a little wider around "
            "the object, or paint it with the brush."
        )
    return full


def _crop_around(box: Box, size: tuple[int, int]) -> Box:
    """The box widened by the margin on every side, inside the photo."""
    w, h = size
    pad = max(MIN_MARGIN, round(MARGIN * max(box.width, box.height)))
    return Box(max(0, box.x0 - pad), max(0, box.y0 - pad), min(w, box.x1 + pad), min(h, box.y1 + pad))


def _scaled(box: Box, scale: float) -> Box:
    """``box`` in the shrunk crop's pixels (at least one pixel wide)."""
    x0, y0 = int(box.x0 * scale), int(box.y0 * scale)
    return Box(x0, y0, max(x0 + 1, round(box.x1 * scale)), max(y0 + 1, round(box.y1 * scale)))


def _tidy(mask: imaging.Array) -> imaging.Array:
    """Drop specks far smaller than the object and fill pinholes inside it (both are texture)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= SPECK * areas.max()) + 1
    kept = np.isin(labels, keep)
    holes = (~kept).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])).tolist())
    small = [
        i for i in range(1, count) if i not in border and stats[i, cv2.CC_STAT_AREA] < PINHOLE * kept.sum()
    ]
    if small:
        kept |= np.isin(labels, small)
    return np.where(kept, 255, 0).astype(np.uint8)


def _upscaled(mask: imaging.Array, size: tuple[int, int], scale: float) -> imaging.Array:
    """``mask`` at ``size``: blurred by about a working pixel, upscaled linearly, cut at half, so the
    outline is a smooth curve at full resolution instead of blocks ``1 / scale`` pixels wide."""
    if scale >= 1:
        return mask
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 0.8)
    big = cv2.resize(soft, size, interpolation=cv2.INTER_LINEAR)
    return np.where(big >= 0.5, 255, 0).astype(np.uint8)
