"""Outdoor scenes made in code for the select tool: a textured object standing on textured ground under a
textured sky, with the object's true mask. Shapes: a figure, a car, a bin, a sign on a pole.

Every shape is drawn in a 1000 x 750 design space and scaled to the scene's size, so the same scene at
640 x 480 and at 12 MP differ only in resolution. Edges are softened like a lens (Gaussian, ~1 px).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

DESIGN = (1000, 750)
HORIZON = 0.52  # share of the height where the sky meets the ground
SHAPES = ("figure", "car", "bin", "sign")
BOX_MARGIN = 0.05  # the box a user drags: the object's bounds widened by this share of each side


@dataclass(frozen=True)
class Scene:
    """A photo, the object's true mask (255 = object) and the box a user would drag around it."""

    name: str
    rgb: np.ndarray
    truth: np.ndarray
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


def _noise(rng: np.random.Generator, size: tuple[int, int], cell: int, amplitude: float) -> np.ndarray:
    """Smooth value noise: random values every ``cell`` pixels, interpolated (w, h)."""
    w, h = size
    coarse = rng.normal(0, 1, (max(2, h // cell + 2), max(2, w // cell + 2))).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) * amplitude


def _backdrop(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Sky with clouds over grass-and-earth ground, both with grain."""
    w, h = size
    horizon = int(h * HORIZON)
    t = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
    sky = (1 - t) * np.array([95, 150, 220], np.float32) + t * np.array([185, 210, 238], np.float32)
    sky = np.broadcast_to(sky, (horizon, w, 3)).copy()
    sky += _noise(rng, (w, horizon), max(8, w // 12), 14)[..., None] * np.array([1, 1, 0.6], np.float32)
    ground = np.empty((h - horizon, w, 3), np.float32)
    ground[:] = np.array([88, 118, 58], np.float32)
    patches = _noise(rng, (w, h - horizon), max(4, w // 40), 1)
    ground += patches[..., None] * np.array([22, 16, 10], np.float32)
    ground += _noise(rng, (w, h - horizon), max(2, w // 300), 12)[..., None]
    image = np.concatenate([sky, ground])
    image += rng.normal(0, 5, image.shape).astype(np.float32)
    return image


def _figure(draw: Callable[..., None]) -> None:
    draw("circle", (500, 250), 38, (224, 172, 140))  # head
    draw("poly", [(440, 295), (560, 295), (575, 470), (425, 470)], (200, 40, 45))  # jacket
    draw("line", [(445, 305), (385, 420), (395, 500)], 30, (200, 40, 45))  # arms
    draw("line", [(555, 305), (615, 420), (605, 500)], 30, (200, 40, 45))
    draw("line", [(470, 465), (455, 640)], 42, (40, 45, 70))  # legs
    draw("line", [(530, 465), (550, 640)], 42, (40, 45, 70))


def _car(draw: Callable[..., None]) -> None:
    draw("poly", [(230, 470), (770, 470), (790, 560), (210, 560)], (215, 120, 30))  # body
    draw("poly", [(330, 470), (380, 395), (610, 395), (680, 470)], (215, 120, 30))  # cabin
    draw("poly", [(395, 410), (490, 410), (490, 465), (360, 465)], (60, 75, 95))  # windows
    draw("poly", [(510, 410), (600, 410), (650, 465), (510, 465)], (60, 75, 95))
    draw("circle", (330, 565), 48, (30, 30, 34))  # wheels
    draw("circle", (670, 565), 48, (30, 30, 34))


def _bin(draw: Callable[..., None]) -> None:
    draw("poly", [(420, 340), (580, 340), (565, 600), (435, 600)], (70, 90, 150))  # body
    draw("poly", [(405, 318), (595, 318), (595, 345), (405, 345)], (50, 60, 100))  # lid
    draw("circle", (450, 605), 14, (25, 25, 25))  # wheels
    draw("circle", (550, 605), 14, (25, 25, 25))


def _sign(draw: Callable[..., None]) -> None:
    draw("poly", [(492, 250), (508, 250), (508, 630), (492, 630)], (150, 150, 155))  # pole
    draw("circle", (500, 210), 70, (240, 240, 240))  # white rim
    draw("circle", (500, 210), 58, (205, 25, 30))  # red face


_DRAWERS = {"figure": _figure, "car": _car, "bin": _bin, "sign": _sign}


def scene(name: str, width: int = 1000, height: int = 750, seed: int = 0) -> Scene:
    """The scene ``name`` (one of SHAPES) at ``width`` x ``height``."""
    rng = np.random.default_rng(seed + SHAPES.index(name))
    image = _backdrop(rng, (width, height))
    truth = np.zeros((height, width), np.uint8)
    sx, sy = width / DESIGN[0], height / DESIGN[1]

    def draw(kind: str, where: Any, size_or_colour: Any, colour: Any = None) -> None:
        """A circle (centre, radius, colour), a polygon (points, colour) or a thick line (points, width,
        colour), in design-space units, textured in ``colour``."""
        part = np.zeros((height, width), np.uint8)
        if kind == "poly":
            colour = size_or_colour
            points = np.array([(x * sx, y * sy) for x, y in where], np.int32)
            cv2.fillPoly(part, [points], 255)
        elif kind == "circle":
            cx, cy = where
            radius = round(float(size_or_colour) * sx)
            cv2.circle(part, (round(cx * sx), round(cy * sy)), radius, 255, -1)
        else:
            points = np.array([(x * sx, y * sy) for x, y in where], np.int32)
            thickness = max(1, round(float(size_or_colour) * sx))
            cv2.polylines(part, [points], False, 255, thickness)
        inside = part > 0
        texture = _noise(rng, (width, height), max(3, width // 120), 16)[inside]
        grain = rng.normal(0, 6, (int(inside.sum()), 3)).astype(np.float32)
        image[inside] = np.array(colour, np.float32) + texture[:, None] + grain
        truth[inside] = 255

    _DRAWERS[name](draw)
    rgb = cv2.GaussianBlur(np.clip(image, 0, 255).astype(np.uint8), (0, 0), max(0.6, width / 2500))
    ys, xs = np.nonzero(truth)
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    mx, my = round((x1 - x0) * BOX_MARGIN), round((y1 - y0) * BOX_MARGIN)
    box = (max(0, x0 - mx), max(0, y0 - my), min(width, x1 + mx), min(height, y1 + my))
    return Scene(name, rgb, truth, box)


def iou(mask: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two masks (anything non-zero counts)."""
    a, b = mask > 0, truth > 0
    return float((a & b).sum() / max(1, (a | b).sum()))


def box_area(shape: tuple[int, ...], box: tuple[int, int, int, int]) -> np.ndarray:
    """The box itself as a mask: what a user gets without the select tool."""
    mask = np.zeros(shape[:2], np.uint8)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 255
    return mask
