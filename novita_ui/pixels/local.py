"""The offline engine: fill masked pixels without a network, array in -> array out.

Pixels follow the project convention: an RGB uint8 ``H x W x 3`` image and a uint8 ``H x W`` mask
(255 = remove; any non-zero value counts as a hole). Only masked pixels ever change.

HD strategy (IOPaint's "crop", done right): each 8-connected mask blob gets a window of its bounding box
plus ``margin`` pixels of context (more for big blobs), shifted inward at the image borders so it keeps its
full size. Blobs whose windows would overlap share one window, so neighbours are filled together and windows
never fight. A window too big for the method's time budget is filled at a lower resolution and scaled back
(patchmatch's fill then gets the photo's fine detail back from the known pixels: see _add_detail).
Only a window's masked pixels are pasted back; memory and time follow the mask, not the frame.

No I/O. Windows are independent, so they are filled on all cores at once (``workers``); the service
also runs :func:`inpaint` off the event loop. Both methods release the GIL while they work: OpenCV's
bindings wrap every call in ``PyAllowThreads``, and pypatchmatch calls its library through ``ctypes.CDLL``
(not ``PyDLL``), which drops the GIL for the call. Measured on 2 cores, two fills one after the other vs
in two threads: patchmatch 600 x 600 2.26 s vs 1.45 s, Telea 1500 x 1500 1.42 s vs 0.73 s.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import cv2
import numpy as np
from patchmatch import patch_match

from novita_ui.pixels import imaging

Method = Literal["patchmatch", "telea"]
# What a user asks for: a method, or "auto" (choose_method decides by the mask's shape).
Choice = Method | Literal["auto"]
Strategy = Literal["crop", "whole"]
METHODS: tuple[Method, ...] = ("patchmatch", "telea")
CHOICES: tuple[Choice, ...] = ("auto", *METHODS)
STRATEGIES: tuple[Strategy, ...] = ("crop", "whole")

# Chosen by `python -m benchmarks.bench_local` (12 MP photo mosaic, crop strategy, 2 shared cores):
#   mask   telea            patchmatch
#   0.5 %  0.10 s 21.3 dB   2.19 s 22.5 dB
#   2 %    0.36 s 18.9 dB   5.07 s 19.5 dB
#   10 %   1.58 s 15.6 dB   7.65 s 16.1 dB   (flat mean fill: 19.0 / 17.2 / 15.4 dB)
# Since patchmatch fills wide holes at a lower resolution (_WIDE_LIMITS, issue 24), its 10 % case takes
# 5.1 s of CPU instead of 9.7 s and scores 15.8 dB instead of 16.1 dB in the same run (+0.19 +- 0.25 dB over
# six 10 % masks); the 0.5 % and 2 % masks are filled exactly as before.
# Telea meets the 2 s target at 2 % with room to spare (patchmatch is 14x slower for +0.6 dB), so it is
# the default; patchmatch's texture is worth asking for on big holes in textured areas when the user can wait.
DEFAULT_METHOD: Method = "telea"

# "Auto" quality: masks whose widest part is at most this share of the photo's longer side are strokes
# (Telea fills them as well as patchmatch, in a fraction of the time); wider holes get patchmatch, which
# keeps texture where Telea smears. Measured by `python -m benchmarks.bench_offline_choice` (docs/web-app.md).
_THIN_SHARE = 0.04
# Every front end's default (the page's Offline quality, the CLI's `local --method`, batch): one choice,
# so a wide box comes out the same wherever it was asked for.
DEFAULT_CHOICE: Choice = "auto"


def resolve(choice: Choice, mask: np.ndarray) -> Method:
    """The method that runs for a user's choice: the choice itself, or choose_method's for "auto"."""
    return choose_method(mask) if choice == "auto" else choice


def choose_method(mask: np.ndarray) -> Method:
    """The method for a mask's shape: "telea" for thin strokes, "patchmatch" for wide areas."""
    if not mask.any():
        return DEFAULT_METHOD
    width = 2.0 * float(cv2.distanceTransform((mask != 0).astype(np.uint8), cv2.DIST_L2, 3).max())
    return "telea" if width <= _THIN_SHARE * max(mask.shape) else "patchmatch"


# Patch radius 3 (7 x 7 patches), as IOPaint uses: 5 doubled the time on large holes for no visible gain.
_PATCH_SIZE = 3
_TELEA_RADIUS = 5
# (max window pixels, max hole pixels) per method before a window is filled at a lower resolution.
# Cost of one window on one core (a window is one thread), at the resolution it is filled at: patchmatch
# ~17 s per MP of hole plus ~1 s per MP of window (a 400 x 400 px hole in its 800 x 800 px window: 2.9 s at
# full size, 0.8 s at half size); Telea ~2.5 s per MP of hole and little per window pixel.
_LIMITS: dict[Method, tuple[int, int]] = {
    "patchmatch": (1_000_000, 150_000),
    "telea": (8_000_000, 500_000),
}
# Max hole pixels for a window whose hole is wide (more than _WIDE px across somewhere): patchmatch fills a
# 12 MP photo's 400 px box ("Texture", issue 24) at half size, and _add_detail gives the fill its fine detail
# back, so it keeps the full-size fill's PSNR and texture (`python -m benchmarks.bench_texture`) in a third
# of the time. Thinner holes (strokes) keep the plain limit: a stroke is mostly edge, where a smaller fill
# loses most (36 px strokes of bench_offline_choice's scene, 8 masks: -0.28 +- 0.21 dB, -1.3 dB at worst).
# A wide hole up to 1.78 times the limit stays at full size (_WIDE_SHRINK = 0.75): shrinking it by less than
# a quarter would save little time and still cost a resampling (bench_local's 2 % mask has 3 such windows).
_WIDE_LIMITS: dict[Method, int] = {"patchmatch": 40_000, "telea": 500_000}
_WIDE = 64
_WIDE_SHRINK = 0.75
# Methods whose fill, when made at a lower resolution, gets the known pixels' fine detail added back:
# patchmatch's copies texture, and a smooth patch in a grainy photo shows. Telea's fill is smooth anyway.
# Even a 6 % shrink blurs: the same small fills of 24 mosaic boxes at 0.94x kept 71 % of the truth's texture
# scaled back linearly and 91 % with the detail, for 0.05 +- 0.01 dB of PSNR (full size: 100 %).
_DETAIL: dict[Method, bool] = {"patchmatch": True, "telea": False}
# _add_detail's tiles: side in pixels of the small fill (half-overlapping); _match_tiles's random tries per
# tile and rounds of propagation and search (~0.1 s for the 400 px box's ~700 tiles).
_DETAIL_TILE = 16
_DETAIL_TRIES = 16
_DETAIL_ROUNDS = 3
# More blobs than this are first grouped by a coarse grid, so thousands of specks cost a few windows.
_MAX_WINDOWS = 64
_GRID = 8  # _GRID ** 2 == _MAX_WINDOWS
# Width in pixels of the seam ring that is softened (see _feather).
_FEATHER = 2

Filler = Callable[[np.ndarray, np.ndarray], np.ndarray]
Box = tuple[int, int, int, int]  # y0, x0, y1, x1 (half-open)


def _fill_patchmatch(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Texture-aware fill: copies patches from the known pixels."""
    out: np.ndarray = patch_match.inpaint(image, hole, patch_size=_PATCH_SIZE)
    return out


def _fill_telea(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fast smooth fill by fast marching from the hole's edge; good on thin strokes."""
    return cv2.inpaint(image, hole, _TELEA_RADIUS, cv2.INPAINT_TELEA)


_FILLERS: dict[Method, Filler] = {"patchmatch": _fill_patchmatch, "telea": _fill_telea}


def inpaint(
    image: np.ndarray,
    mask: np.ndarray,
    method: Method = DEFAULT_METHOD,
    *,
    margin: int = 128,
    strategy: Strategy = "crop",
    downscale: bool = True,
    workers: int | None = None,
) -> np.ndarray:
    """Fill the masked pixels of image (HD strategy: per-blob crops).

    ``margin`` is the context around each blob for patchmatch (big blobs get more); Telea reads only its
    radius. ``strategy="whole"`` runs the method once on the full frame instead (for comparisons);
    ``downscale=False`` never lowers the resolution, whatever the cost. Up to ``workers`` windows (default:
    one per core) are filled at once; every window writes only its own masked pixels of the output.
    """
    _validate(image, mask, method, margin, strategy)
    image, mask = np.ascontiguousarray(image), np.ascontiguousarray(mask)  # OpenCV wants plain rows
    out = image.copy()
    holes = cv2.countNonZero(mask)
    if holes == 0:
        return out
    if imaging.covers_everything(mask):
        raise ValueError(f"{imaging.WHOLE_MASK}: leave some pixels to fill the hole from")
    height, width = mask.shape
    if strategy == "whole":
        windows = [(0, 0, height, width)]
    else:
        # Telea reads only pixels within its radius of the hole: wider windows cost time and change nothing
        # (identical output on the 12 MP bench with margin 4 and 128; 0.40 s -> 0.22 s at 0.5 %).
        telea = method == "telea"
        context = min(margin, _TELEA_RADIUS + _FEATHER + 1) if telea else margin
        cores = _blob_boxes(mask, context, grow=not telea)
        windows = [_window(core, reach, height, width) for core, reach in cores]
    limits = (*_LIMITS[method], _WIDE_LIMITS[method]) if downscale else None

    def fill(window: Box) -> None:
        _fill_window(out, image, mask, window, _FILLERS[method], limits, detail=_DETAIL[method])

    workers = min(len(windows), workers or os.cpu_count() or 1)
    if workers == 1:
        for window in windows:
            fill(window)
        return out
    # A pool per call, not one shared by all callers: two users' fills then share the cores evenly instead
    # of the second one queueing behind every window of the first.
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inpaint-window") as pool:
        # Biggest windows first, so the last one to finish is a small one.
        windows.sort(key=lambda box: (box[2] - box[0]) * (box[3] - box[1]), reverse=True)
        list(pool.map(fill, windows))  # list(): re-raises a window's exception here
    return out


def _validate(image: np.ndarray, mask: np.ndarray, method: str, margin: int, strategy: str) -> None:
    """Raise ValueError with a message that says what is wrong."""
    if not isinstance(image, np.ndarray) or not isinstance(mask, np.ndarray):
        raise ValueError(
            f"image and mask must be numpy arrays, got {type(image).__name__} and {type(mask).__name__}"
        )
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"image must be an H x W x 3 uint8 RGB array, got shape {image.shape} and dtype {image.dtype}"
        )
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"mask must be an H x W uint8 array, got shape {mask.shape} and dtype {mask.dtype}")
    if mask.shape != image.shape[:2]:
        raise ValueError(
            f"mask is {mask.shape[1]} x {mask.shape[0]} but the image is "
            f"{image.shape[1]} x {image.shape[0]}; they must match"
        )
    if mask.size == 0:
        raise ValueError(f"image and mask are empty ({mask.shape[1]} x {mask.shape[0]} pixels)")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if isinstance(margin, bool) or not isinstance(margin, int | np.integer) or margin < 1:
        raise ValueError(f"margin must be a positive number of pixels, got {margin!r}")


def _blob_boxes(mask: np.ndarray, margin: int, *, grow: bool = True) -> list[tuple[Box, int]]:
    """(bounding box, context) of each group of blobs, merged until no two windows could touch."""
    # The outer contours of the 8-connected blobs give the same boxes as connectedComponentsWithStats
    # (a blob nested in another's hole lies inside that box and would merge anyway), 20x faster on a
    # 12 MP mask (10 ms against 220 ms) and without its full-frame int32 label image.
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    rects = np.array([cv2.boundingRect(contour) for contour in contours], dtype=np.int64).reshape(-1, 4)
    x, y, w, h = rects.T
    # Context is margin, or half a blob's shorter side for big blobs: a fixed margin starves big holes. On
    # the 12 MP bench with a 10 % mask, patchmatch scored 14.8 dB (below a flat mean fill) with 128 px and
    # 16.1 dB with this rule (grow); strokes and specks keep the plain margin.
    context = np.maximum(margin, np.minimum(w, h) // 2 if grow else np.zeros_like(w))
    boxes = np.stack([y, x, y + h, x + w, context], axis=1)
    if len(boxes) > _MAX_WINDOWS:
        boxes = _group_by_grid(boxes, *mask.shape)
    return _merge_close(boxes)


def _group_by_grid(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """One box per cell of a _GRID x _GRID grid: the union of the boxes whose centre lies in it."""
    cy = (boxes[:, 0] + boxes[:, 2]) // 2 * _GRID // height
    cx = (boxes[:, 1] + boxes[:, 3]) // 2 * _GRID // width
    cells, group = np.unique(cy * _GRID + cx, return_inverse=True)
    grouped = np.empty((len(cells), 5), dtype=np.int64)
    grouped[:, :2] = np.iinfo(np.int64).max
    grouped[:, 2:] = np.iinfo(np.int64).min
    for col, reduce in enumerate((np.minimum, np.minimum, np.maximum, np.maximum, np.maximum)):
        reduce.at(grouped[:, col], group, boxes[:, col])
    return grouped


def _merge_close(boxes: np.ndarray) -> list[tuple[Box, int]]:
    """Union boxes closer than twice the larger of their contexts, until none are."""
    merged = [((int(b[0]), int(b[1]), int(b[2]), int(b[3])), int(b[4])) for b in boxes]
    i = 0
    while i < len(merged):
        (y0, x0, y1, x1), context = merged[i]
        hits = [
            j
            for j, ((b0, c0, b1, c1), other) in enumerate(merged)
            if j != i
            and _near(y0, y1, b0, b1, 2 * max(context, other))
            and _near(x0, x1, c0, c1, 2 * max(context, other))
        ]
        if not hits:
            i += 1
            continue
        group = [merged[i]] + [merged[j] for j in hits]
        union = (
            min(b[0][0] for b in group),
            min(b[0][1] for b in group),
            max(b[0][2] for b in group),
            max(b[0][3] for b in group),
        )
        merged = [b for j, b in enumerate(merged) if j != i and j not in hits]
        merged.append((union, max(b[1] for b in group)))
        i = 0  # the grown box may now reach boxes already checked
    return merged


def _near(lo: int, hi: int, other_lo: int, other_hi: int, reach: int) -> bool:
    """Whether [lo, hi) and [other_lo, other_hi) are less than reach apart."""
    return other_lo < hi + reach and lo < other_hi + reach


def _window(core: Box, margin: int, height: int, width: int) -> Box:
    """core plus margin (its context) on each side, shifted inward at the borders to keep its size.

    A shifted window still never reaches another core: the shift adds at most margin on the far side, so a
    window ends at most 2 * margin past its core, while cores left apart by _merge_close are at least
    2 * max(contexts) apart on some axis. So every masked pixel in a window is its own; windows never fight.
    """

    def span(lo: int, hi: int, size: int) -> tuple[int, int]:
        length = min(size, hi - lo + 2 * margin)
        start = min(max(lo - margin, 0), size - length)
        return start, start + length

    (y0, y1), (x0, x1) = span(core[0], core[2], height), span(core[1], core[3], width)
    return y0, x0, y1, x1


def _fill_window(
    out: np.ndarray,
    image: np.ndarray,
    mask: np.ndarray,
    window: Box,
    fill: Filler,
    limits: tuple[int, int, int] | None,
    *,
    detail: bool = False,
) -> None:
    """Fill one window and paste its masked pixels (its own blobs only, see _window) into out."""
    y0, x0, y1, x1 = window
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    hole = np.ascontiguousarray(mask[y0:y1, x0:x1])
    filled = _fill_scaled(crop, hole, fill, limits, detail=detail)
    _feather(filled, crop, hole)
    np.copyto(out[y0:y1, x0:x1], filled, where=hole[..., None] != 0)


def _fill_scaled(
    crop: np.ndarray,
    hole: np.ndarray,
    fill: Filler,
    limits: tuple[int, int, int] | None,
    *,
    detail: bool = False,
) -> np.ndarray:
    """fill(crop, hole), at a lower resolution when the window exceeds the method's limits.

    With ``detail``, a fill made smaller is scaled back cubically and gets the known pixels' fine detail
    (see _add_detail); otherwise it is scaled back linearly.
    """
    height, width = hole.shape
    scale = 1.0 if limits is None else _scale(hole, *limits)
    if scale >= 1.0:
        return fill(crop, hole)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Grow the hole by one small pixel first: every small pixel that INTER_AREA mixes from a hole pixel
    # is then a hole itself, and nearest-neighbour sampling cannot skip a thin stroke.
    reach = 2 * math.ceil(1 / scale) + 1
    grown = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_RECT, (reach, reach)))
    small_hole = cv2.resize(grown, size, interpolation=cv2.INTER_NEAREST)
    if cv2.countNonZero(small_hole) == small_hole.size:
        return _fill_telea(crop, hole)  # nothing known survives the shrink: stay exact, if slower
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    filled = fill(small, small_hole)
    if not detail:
        return cv2.resize(filled, (width, height), interpolation=cv2.INTER_LINEAR)
    # Cubic keeps the small fill's edges sharper than linear (texture kept on bench_texture's 12 tiles,
    # before any detail: 74 % against 58 % of the truth's, same PSNR); cv2.resize clips its overshoot.
    up = cv2.resize(filled, (width, height), interpolation=cv2.INTER_CUBIC)
    return _add_detail(up, crop, small, filled, small_hole, grown)


def _scale(hole: np.ndarray, window_limit: int, hole_limit: int, wide_limit: int) -> float:
    """The scale (at most 1) that brings the window within its limits (the wide one if its hole is wide)."""
    holes = cv2.countNonZero(hole)
    scale = min(1.0, math.sqrt(window_limit / hole.size), math.sqrt(hole_limit / holes))
    wide = math.sqrt(wide_limit / holes)
    if wide < _WIDE_SHRINK and 2 * cv2.distanceTransform(hole, cv2.DIST_L2, 3).max() > _WIDE:
        scale = min(scale, wide)
    return scale


def _add_detail(
    up: np.ndarray,
    crop: np.ndarray,
    small: np.ndarray,
    filled: np.ndarray,
    small_hole: np.ndarray,
    grown: np.ndarray,
) -> np.ndarray:
    """up (a small fill scaled back to the crop's size) plus the fine detail of the crop's known pixels.

    The detail of a known pixel is what the round trip to the small size loses: crop minus small scaled back
    the same way as the fill. The hole gets it in half-overlapping tiles of _DETAIL_TILE small pixels, each
    copied from the known tile whose small pixels look most like the fill's there (_match_tiles). Where the
    small fill is a copy of a known place, that tile is the place itself, and fill plus detail gives back
    its full-size pixels (as patchmatch's own last, full-size step would); elsewhere grain goes where the
    photo is grainy and sharp detail where it is detailed. Only tiles that hold hole pixels are computed;
    the result is the same on every run (fixed seeds).
    """
    height, width = grown.shape
    small_h, small_w = small_hole.shape
    tile = _DETAIL_TILE
    if small_h <= tile or small_w <= tile:
        return up
    scale = small_w / width
    # Known tiles whose detail is clean: away from the hole by what INTER_AREA and the cubic kernel mix in.
    reach = 2 * math.ceil(4 / scale) + 1
    tainted = cv2.dilate(grown, cv2.getStructuringElement(cv2.MORPH_RECT, (reach, reach)))
    tainted_small = cv2.resize(tainted, (small_w, small_h), interpolation=cv2.INTER_AREA)
    source_y, source_x = np.nonzero(_tile_sums(tainted_small, tile) == 0)
    if len(source_y) == 0:
        return up  # no clean known tile (a hole that fills most of its window): no detail to copy
    # Tile origins every half tile (the last ones flush with the far edges): those that hold hole pixels.
    rows = np.unique(np.clip(np.arange(0, small_h, tile // 2), 0, small_h - tile))
    cols = np.unique(np.clip(np.arange(0, small_w, tile // 2), 0, small_w - tile))
    hit_rows, hit_cols = np.nonzero(_tile_sums(small_hole, tile)[np.ix_(rows, cols)])
    target_y, target_x = rows[hit_rows], cols[hit_cols]
    clean = np.zeros((small_h - tile + 1, small_w - tile + 1), bool)
    clean[source_y, source_x] = True
    # Where each tile's neighbour (a half tile up, down, left, right) is in the list, or -1.
    index = np.full((len(rows), len(cols)), -1)
    index[hit_rows, hit_cols] = np.arange(len(hit_rows))
    padded = np.pad(index, 1, constant_values=-1)
    steps = ((-1, 0), (1, 0), (0, -1), (0, 1))
    neighbours = [padded[hit_rows + 1 + dy, hit_cols + 1 + dx] for dy, dx in steps]
    best_y, best_x = _match_tiles(filled, target_y, target_x, source_y, source_x, clean, neighbours, tile)
    # Paste the chosen tiles' detail at full size, over the box the target tiles cover. Neighbours come from
    # unrelated places, so they are blended at equal power (weights whose squares sum to 1): a plain average
    # would halve the grain's variance where tiles overlap.
    side = round(tile / scale)
    weight = np.sin(np.pi * (np.arange(side) + 0.5) / side)
    window = np.outer(weight, weight).astype(np.float32)[..., None]
    low = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)

    def corner(y: int, x: int) -> tuple[int, int]:
        """The top-left corner of the full-size tile at small pixel (y, x)."""
        return min(round(y / scale), height - side), min(round(x / scale), width - side)

    targets = [corner(ty, tx) for ty, tx in zip(target_y, target_x, strict=True)]
    top, left = min(y for y, _ in targets), min(x for _, x in targets)
    bottom, right = max(y for y, _ in targets) + side, max(x for _, x in targets) + side
    total = np.zeros((bottom - top, right - left, 3), np.float32)
    power = np.zeros((bottom - top, right - left, 1), np.float32)
    for (fy, fx), sy, sx in zip(targets, best_y, best_x, strict=True):
        gy, gx = corner(sy, sx)
        source = (slice(gy, gy + side), slice(gx, gx + side))
        target = (slice(fy - top, fy - top + side), slice(fx - left, fx - left + side))
        total[target] += (crop[source].astype(np.float32) - low[source]) * window
        power[target] += window * window
    del low
    np.divide(total, np.sqrt(power, out=power), out=total, where=power > 0)
    del power
    total += up[top:bottom, left:right]
    up[top:bottom, left:right] = np.clip(np.rint(total, out=total), 0, 255, out=total)
    return up


def _match_tiles(
    filled: np.ndarray,
    target_y: np.ndarray,
    target_x: np.ndarray,
    source_y: np.ndarray,
    source_x: np.ndarray,
    clean: np.ndarray,
    neighbours: list[np.ndarray],
    tile: int,
) -> tuple[np.ndarray, np.ndarray]:
    """For each target tile of filled, a clean known tile that looks like it: PatchMatch over tiles.

    Random tries, then rounds of propagation (a neighbour's match, shifted as the neighbour is) and random
    search around the best match at halving radii, all tiles at once. Scored by the squared difference of
    every other pixel, so a coherent copy is found to the pixel.
    """
    rng = np.random.default_rng(0)
    values = filled.astype(np.float32)
    offsets = np.arange(0, tile, 2)
    limit_y, limit_x = clean.shape
    targets = values[(target_y[:, None] + offsets)[:, :, None], (target_x[:, None] + offsets)[:, None, :]]

    def score(cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
        """Distance of each tile to candidate (cy, cx) of the same row; inf where it is not clean."""
        got = values[(cy[..., None] + offsets)[..., :, None], (cx[..., None] + offsets)[..., None, :]]
        distance = np.square(got - targets[:, None]).sum(axis=(2, 3, 4))
        return np.where(clean[cy, cx], distance, np.inf)

    def keep(cy: np.ndarray, cx: np.ndarray) -> None:
        """Take each tile's best candidate where it beats the tile's match."""
        cy, cx = np.clip(cy, 0, limit_y - 1), np.clip(cx, 0, limit_x - 1)
        distance = score(cy, cx)
        pick = distance.argmin(axis=1)
        found = np.arange(len(cy))
        better = distance[found, pick] < best_d
        best_y[better], best_x[better] = cy[found, pick][better], cx[found, pick][better]
        best_d[better] = distance[found, pick][better]

    tries = rng.integers(0, len(source_y), (len(target_y), _DETAIL_TRIES))
    best_y, best_x = source_y[tries[:, 0]], source_x[tries[:, 0]]
    best_d = np.full(len(target_y), np.inf)
    keep(source_y[tries], source_x[tries])
    radius = max(limit_y, limit_x) // 4
    for _ in range(_DETAIL_ROUNDS):
        # A neighbour's match moved by the neighbour's distance (no neighbour: the tile's own match).
        keep(
            np.stack([np.where(n >= 0, best_y[n] + target_y - target_y[n], best_y) for n in neighbours], 1),
            np.stack([np.where(n >= 0, best_x[n] + target_x - target_x[n], best_x) for n in neighbours], 1),
        )
        r = radius
        while r >= 1:
            jitter = rng.integers(-r, r + 1, (2, len(target_y), 2))
            keep(best_y[:, None] + jitter[0], best_x[:, None] + jitter[1])
            r //= 2
    return best_y, best_x


def _tile_sums(flags: np.ndarray, tile: int) -> np.ndarray:
    """How many non-zero pixels of flags each tile x tile square holds, indexed by its top-left corner."""
    sums = cv2.integral((flags != 0).astype(np.uint8))
    counts: np.ndarray = sums[tile:, tile:] - sums[:-tile, tile:] - sums[tile:, :-tile] + sums[:-tile, :-tile]
    return counts


def _feather(filled: np.ndarray, crop: np.ndarray, hole: np.ndarray) -> None:
    """Soften the seam without touching a known pixel, in place.

    The hard rule is that unmasked pixels never change, so a feather can only act inside the hole: the
    filled pixels within _FEATHER px of the edge are blended toward the mean of the known original pixels
    around them (weight 1/3 of the fill at 1 px, 2/3 at 2 px, all of it further in). Colour then runs on
    continuously from the surroundings, which hides the step a downscaled or patch-copied fill leaves.
    """
    known = (hole == 0).astype(np.float32)
    side = 2 * _FEATHER + 1
    # Sums of the known pixels (and their count) in each pixel's side x side neighbourhood; pixels beyond
    # the crop count as unknown (constant 0 border).
    total = cv2.boxFilter(
        crop.astype(np.float32) * known[..., None],
        -1,
        (side, side),
        normalize=False,
        borderType=cv2.BORDER_CONSTANT,
    )
    count = cv2.boxFilter(known, -1, (side, side), normalize=False, borderType=cv2.BORDER_CONSTANT)
    kernel = np.ones((3, 3), np.uint8)
    inner = hole
    for step in range(1, _FEATHER + 1):
        eroded = cv2.erode(inner, kernel)  # pixels beyond the crop count as hole: no seam there
        ys, xs = np.nonzero((inner != 0) & (eroded == 0))
        inner = eroded
        seen = count[ys, xs] > 0.5
        ys, xs = ys[seen], xs[seen]
        if len(ys) == 0:
            continue
        weight = step / (_FEATHER + 1)
        mean = total[ys, xs] / count[ys, xs][:, None]
        blend = weight * filled[ys, xs] + (1 - weight) * mean
        filled[ys, xs] = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
