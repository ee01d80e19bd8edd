"""Mask policy every front end shares: strokes painted on a working canvas and an uploaded mask file become
one mask at the photo's size, and a mask is drawn on a photo the way the user sees it (the brush's pink).

Pure numpy, no I/O; pixels follow imaging's convention (uint8 H x W x 3 images, H x W masks in {0, 255}).
"""

from __future__ import annotations

import numpy as np

from novita_ui.pixels import imaging

# The editor's brush colour (ui/editor.py's MASK_COLOUR, #ff00ff): an uploaded mask is drawn in it, so the
# uploaded and the painted mask look the same.
BRUSH_PINK = (255, 0, 255)
OVERLAY_OPACITY = 0.55  # enough to see the area, light enough to see what is under it


def merge(
    painted: imaging.Array | None, uploaded: imaging.Array | None, size: tuple[int, int]
) -> imaging.Array | None:
    """The union of painted strokes (any size with the photo's aspect) and an uploaded mask, at ``size``.

    None when neither marks anything: the caller decides whether a prompt alone is enough.
    """
    parts = [imaging.fit_mask(m, size) for m in (painted, uploaded) if m is not None and m.any()]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else np.maximum(parts[0], parts[1])


def overlay(rgb: imaging.Array, mask: imaging.Array) -> imaging.Array:
    """``rgb`` with ``mask`` (fitted to it) drawn on top in the brush's pink, translucent."""
    h, w = rgb.shape[:2]
    inside = imaging.fit_mask(mask, (w, h)) > 0
    out = rgb.astype(np.float32)
    out[inside] = out[inside] * (1 - OVERLAY_OPACITY) + np.array(BRUSH_PINK, np.float32) * OVERLAY_OPACITY
    return np.asarray(np.clip(out + 0.5, 0, 255), dtype=np.uint8)


def rescaled(mask: imaging.Array, size: tuple[int, int]) -> imaging.Array | None:
    """``mask`` at ``size`` when its aspect ratio matches (``imaging.same_shape``: a new photo of the same
    shape), else None: a mask stretched onto another shape would mark the wrong area."""
    h, w = mask.shape[:2]
    width, height = size
    if not imaging.same_shape((w, h), size):
        return None
    if (w, h) == size:
        return mask
    if width * height < w * h:
        return imaging.resize_mask_down(mask, size)  # thin strokes survive the shrink
    return imaging.fit_mask(mask, size)


# The editor's brush paints MASK_COLOUR at MASK_OPACITY 0.5 (ui/editor.py): a selection given back to the
# editor as a stroke layer looks, erases and exports exactly like painted strokes.
LAYER_ALPHA = 128


def painted(layers: list[imaging.Array], size: tuple[int, int]) -> imaging.Array:
    """The union of stroke layers (RGBA, any alpha counts) at ``size``; all zero when there are none."""
    if not layers:
        return np.zeros((size[1], size[0]), np.uint8)
    return imaging.mask_from_layers(layers, size)


def as_layer(mask: imaging.Array) -> imaging.Array:
    """``mask`` as an editor stroke layer: RGBA, the brush's pink where the mask is, transparent elsewhere."""
    layer = np.zeros((*mask.shape[:2], 4), np.uint8)
    inside = mask > 0
    layer[inside] = (*BRUSH_PINK, LAYER_ALPHA)
    return layer
