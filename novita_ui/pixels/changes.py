"""What a remote model actually changed, when it says nothing about where (remove-text: no mask is sent).

Such a service may return the whole image re-encoded (a lossy JPEG/WebP of every pixel), so "differs from
the photo" is true almost everywhere. The change it made is what differs far more than that re-encoding
noise: the threshold is measured on the image itself, specks of ringing at sharp edges are dropped, and what
is left is grown a little so the soft edge of a removed letter goes with it. Pure numpy/OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np

from novita_ui.pixels.imaging import Array

# A difference is a change when it is this many times the re-encoding noise, and never below MIN_LEVELS.
NOISE_FACTOR = 3.0
MIN_LEVELS = 24
# The noise is the difference at this percentile: text rarely covers a tenth of a photo, noise is everywhere.
NOISE_PERCENTILE = 90
# Changed blobs smaller than this (px, at the compared size) are ringing, not a removed letter.
MIN_BLOB = 12
GROW = 4  # px the change is grown by: the letter's anti-aliased edge and its shadow


def noise_threshold(diff: Array) -> int:
    """The level above which a difference counts as a change, measured on this image's differences."""
    noise = float(np.percentile(diff, NOISE_PERCENTILE)) if diff.size else 0.0
    return max(MIN_LEVELS, int(np.ceil(NOISE_FACTOR * noise)))


def changed_region(before: Array, after: Array) -> Array:
    """A {0,255} mask of where ``after`` changed ``before`` beyond re-encoding noise (same size, RGB)."""
    diff = np.abs(before.astype(np.int16) - after.astype(np.int16)).max(axis=2).astype(np.uint8)
    changed = np.where(diff > noise_threshold(diff), 255, 0).astype(np.uint8)
    # Close gaps inside a letter, then drop what is still a speck: isolated ringing pixels.
    close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    changed = np.asarray(cv2.morphologyEx(changed, cv2.MORPH_CLOSE, close), dtype=np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
    small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < MIN_BLOB) + 1
    if small.size and count > 1:
        changed[np.isin(labels, small)] = 0
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * GROW + 1, 2 * GROW + 1))
    return np.asarray(cv2.dilate(changed, grow), dtype=np.uint8)
