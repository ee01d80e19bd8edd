"""The offline engine: only masked pixels change, fills are plausible, big inputs stay bounded."""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from novita_ui.pixels import local

MAGENTA = (255, 0, 255)


def gradient(height: int, width: int) -> np.ndarray:
    """A smooth RGB ramp: the truth under any hole is predictable from its surroundings."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    diagonal = (xx + yy) / (height + width)
    ramp = np.stack([xx / width * 200 + 20, yy / height * 180 + 40, diagonal * 150 + 60], axis=-1)
    return ramp.round().astype(np.uint8)


def textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Blurred noise: every pixel differs, so a changed unmasked pixel cannot hide."""
    noise = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 1.5)


def damaged(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """image with the masked pixels painted magenta, as if an object were there."""
    out = image.copy()
    out[mask != 0] = MAGENTA
    return out


def hole_mae(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute error of the masked pixels."""
    return float(np.abs(result.astype(np.int16) - truth.astype(np.int16))[mask != 0].mean())


def ring_mean_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Baseline: the hole filled flat with the mean colour of the pixels just around it."""
    band = cv2.dilate(mask, np.ones((9, 9), np.uint8)) & ~mask
    out = image.copy()
    out[mask != 0] = image[band != 0].mean(axis=0).round()
    return out


def shapes(height: int, width: int) -> dict[str, np.ndarray]:
    """Masks that stress the windows: centre, corners, edges, specks, one pixel, a ring."""

    def blank() -> np.ndarray:
        return np.zeros((height, width), np.uint8)

    found = {name: blank() for name in ("disc", "corners", "edges", "specks", "pixel", "ring")}
    cv2.circle(found["disc"], (width // 2, height // 2), 25, 255, -1)
    for y, x in ((0, 0), (0, width - 12), (height - 12, 0), (height - 12, width - 12)):
        found["corners"][y : y + 12, x : x + 12] = 255
    found["edges"][:, :3] = 255
    found["edges"][height - 2 :, :] = 255
    rng = np.random.default_rng(1)
    found["specks"][rng.integers(0, height, 60), rng.integers(0, width, 60)] = 255
    found["pixel"][height // 3, width // 3] = 255
    cv2.circle(found["ring"], (width // 3, height // 2), 30, 255, 4)
    return found


@pytest.mark.parametrize("method", local.METHODS)
@pytest.mark.parametrize("shape", list(shapes(4, 4)))
def test_unmasked_pixels_are_untouched_and_holes_are_filled(method: local.Method, shape: str) -> None:
    image = textured(180, 240)
    mask = shapes(180, 240)[shape]
    result = local.inpaint(damaged(image, mask), mask, method, margin=40)
    assert result.shape == image.shape and result.dtype == np.uint8
    np.testing.assert_array_equal(result[mask == 0], image[mask == 0])
    assert not (result[mask != 0] == MAGENTA).all(axis=1).any(), "a hole pixel was left unfilled"


@pytest.mark.parametrize("method", local.METHODS)
def test_whole_frame_strategy_keeps_the_same_guarantee(method: local.Method) -> None:
    image, mask = textured(120, 160), shapes(120, 160)["corners"]
    result = local.inpaint(damaged(image, mask), mask, method, strategy="whole")
    np.testing.assert_array_equal(result[mask == 0], image[mask == 0])


def test_telea_windows_give_the_same_result_as_the_whole_frame() -> None:
    image = textured(300, 400)
    mask = shapes(300, 400)["ring"] | shapes(300, 400)["corners"] | shapes(300, 400)["specks"]
    broken = damaged(image, mask)
    np.testing.assert_array_equal(
        local.inpaint(broken, mask, "telea"), local.inpaint(broken, mask, "telea", strategy="whole")
    )


@pytest.mark.parametrize("method", local.METHODS)
def test_windows_filled_on_several_cores_give_exactly_the_serial_result(method: local.Method) -> None:
    # Windows run in threads that write into one output frame: any overlap or race would show here.
    image = textured(300, 400, seed=4)
    mask = shapes(300, 400)["ring"] | shapes(300, 400)["corners"] | shapes(300, 400)["specks"]
    broken = damaged(image, mask)
    serial = local.inpaint(broken, mask, method, margin=24, workers=1)
    for _ in range(3):
        np.testing.assert_array_equal(local.inpaint(broken, mask, method, margin=24, workers=4), serial)


@pytest.mark.parametrize("method", local.METHODS)
def test_fill_of_a_smooth_scene_is_close_to_the_truth(method: local.Method) -> None:
    truth = gradient(240, 320)
    mask = np.zeros((240, 320), np.uint8)
    cv2.circle(mask, (160, 120), 22, 255, -1)
    broken = damaged(truth, mask)
    error = hole_mae(local.inpaint(broken, mask, method), truth, mask)
    assert error < 4, f"{method} is {error:.1f} levels off on a smooth ramp"
    assert error < 0.7 * hole_mae(ring_mean_fill(broken, mask), truth, mask)
    assert error < hole_mae(broken, truth, mask) / 20


@pytest.mark.parametrize("method", local.METHODS)
def test_blob_in_a_corner_is_filled_from_a_full_size_window(method: local.Method) -> None:
    truth = gradient(300, 400)
    mask = np.zeros((300, 400), np.uint8)
    cv2.circle(mask, (399, 0), 15, 255, -1)  # touches the top and right borders
    result = local.inpaint(damaged(truth, mask), mask, method, margin=64)
    np.testing.assert_array_equal(result[mask == 0], truth[mask == 0])
    assert hole_mae(result, truth, mask) < 6
    # the window keeps its full size by moving inward instead of being cut at the borders
    assert local._window((0, 384, 16, 400), 64, 300, 400) == (0, 256, 144, 400)


def test_windows_never_overlap_another_windows_blobs() -> None:
    rng = np.random.default_rng(3)
    mask = np.zeros((400, 600), np.uint8)
    for _ in range(40):
        centre = (int(rng.integers(0, 600)), int(rng.integers(0, 400)))
        cv2.circle(mask, centre, int(rng.integers(1, 8)), 255, -1)
    cores = local._blob_boxes(mask, 20)
    assert 1 < len(cores) <= local._MAX_WINDOWS
    covered = np.zeros(mask.shape, np.uint8)
    for core, context in cores:
        y0, x0, y1, x1 = core
        wy0, wx0, wy1, wx1 = local._window(core, context, 400, 600)
        inside = mask[wy0:wy1, wx0:wx1] != 0
        own = inside[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0].sum()
        assert own == inside.sum(), "a window saw another window's blob"
        covered[y0:y1, x0:x1] += 1
    assert covered[mask != 0].min() == 1 and covered.max() == 1, "every blob belongs to exactly one window"


@pytest.mark.parametrize("method", local.METHODS)
def test_five_hundred_specks_are_quick_and_correct(method: local.Method) -> None:
    truth = gradient(600, 800)
    mask = np.zeros((600, 800), np.uint8)
    rng = np.random.default_rng(5)
    for y, x in zip(rng.integers(0, 600, 500), rng.integers(0, 800, 500), strict=True):
        cv2.circle(mask, (int(x), int(y)), 1, 255, -1)
    assert len(local._blob_boxes(mask, 4)) <= local._MAX_WINDOWS  # thousands of specks, a few windows
    start = time.perf_counter()
    result = local.inpaint(damaged(truth, mask), mask, method)
    assert time.perf_counter() - start < 8
    np.testing.assert_array_equal(result[mask == 0], truth[mask == 0])
    assert hole_mae(result, truth, mask) < 4


@pytest.mark.parametrize("method", local.METHODS)
def test_big_hole_is_filled_at_lower_resolution_within_the_limits(
    method: local.Method, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(local._LIMITS, method, (60_000, 6_000))  # small limits keep the test fast
    seen: list[tuple[int, int]] = []
    real = local._FILLERS[method]

    def recording(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        seen.append(hole.shape)
        return real(image, hole)

    monkeypatch.setitem(local._FILLERS, method, recording)
    truth = gradient(480, 640)
    mask = np.zeros((480, 640), np.uint8)
    cv2.ellipse(mask, (300, 250), (120, 80), 20, 0, 360, 255, -1)
    cv2.line(mask, (20, 20), (600, 60), 255, 1)  # 1 px stroke: must not vanish when scaled down
    result = local.inpaint(damaged(truth, mask), mask, method)
    assert seen and all(h * w <= 60_000 * 1.01 for h, w in seen), seen
    np.testing.assert_array_equal(result[mask == 0], truth[mask == 0])
    assert not (result[mask != 0] == MAGENTA).all(axis=1).any()
    assert hole_mae(result, truth, mask) < min(8, hole_mae(ring_mean_fill(truth, mask), truth, mask))


def grainy(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour fields plus sensor-like grain: a photo at 100 %."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 215, (height // 40 + 2, width // 40 + 2, 3), dtype=np.uint8)
    base = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    pixels: np.ndarray = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
    return pixels


def grain(image: np.ndarray, where: np.ndarray) -> float:
    """Standard deviation of the finest detail (grey minus its 2 px blur) over the where pixels."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float((grey - cv2.GaussianBlur(grey, (0, 0), 2))[where].std())


@pytest.mark.parametrize("seed", [0, 1])
def test_a_wide_hole_filled_at_half_size_keeps_the_photos_grain(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Texture fills a 400 px box of a 12 MP photo at half size (issue 24); here a 200 px box and a quarter
    # of the wide-hole limit do the same, quicker. Scaled back alone, the fill would be a smooth patch in a
    # grainy photo (a third of the grain); _add_detail gives it the grain of the known pixels.
    monkeypatch.setitem(local._WIDE_LIMITS, "patchmatch", 10_000)
    truth = grainy(480, 480, seed)
    mask = np.zeros((480, 480), np.uint8)
    mask[140:340, 140:340] = 255
    inside = cv2.erode(mask, np.ones((7, 7), np.uint8)) != 0  # away from the feathered seam
    around = grain(truth, (cv2.dilate(mask, np.ones((41, 41), np.uint8)) != 0) & (mask == 0))
    result = local.inpaint(damaged(truth, mask), mask, "patchmatch")
    np.testing.assert_array_equal(result[mask == 0], truth[mask == 0])
    assert not (result[mask != 0] == MAGENTA).all(axis=1).any()
    assert 0.8 * around < grain(result, inside) < 1.25 * around
    again = local.inpaint(damaged(truth, mask), mask, "patchmatch")
    np.testing.assert_array_equal(again, result)  # the same photo and mask give the same result
    monkeypatch.setitem(local._DETAIL, "patchmatch", False)
    smooth = local.inpaint(damaged(truth, mask), mask, "patchmatch")
    assert grain(smooth, inside) < 0.5 * around


def _stroke(mask: np.ndarray) -> None:
    """A 36 px zigzag stroke of ~73 k pixels whose window stays within the window limit."""
    points = [[1800, 1300], [2300, 1400], [1800, 1500], [2300, 1600], [1800, 1700]]
    cv2.polylines(mask, [np.array(points, np.int32)], False, 255, 36)


@pytest.mark.parametrize(
    ("draw", "filled_at"),
    [
        (lambda mask: mask.__setitem__((slice(1300, 1700), slice(1800, 2200)), 255), (400, 400)),
        (lambda mask: mask.__setitem__((slice(1380, 1620), slice(1880, 2120)), 255), None),
        (_stroke, None),
    ],
    ids=["400-px-box", "240-px-box", "36-px-stroke"],
)
def test_texture_fills_a_wide_hole_at_half_size_and_a_stroke_at_full_size(
    draw: Callable[[np.ndarray], None], filled_at: tuple[int, int] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rule behind the 12 MP Texture click's time (benchmarks/bench_texture.py): the 400 px box's 800 px
    # window (200 px of context a side) is filled at half size, a quarter of the work. A 240 px box, 1.44
    # times the wide-hole limit, stays at full size (shrinking it by a sixth would save little), and so does a
    # 36 px stroke of 73 k hole pixels: it is mostly edge, where a smaller fill loses most. (A stand-in
    # filler keeps the test quick.)
    seen: list[tuple[int, int]] = []

    def recording(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        seen.append(hole.shape)
        return cv2.inpaint(image, hole, 3, cv2.INPAINT_TELEA)

    monkeypatch.setitem(local._FILLERS, "patchmatch", recording)
    mask = np.zeros((3000, 4000), np.uint8)
    draw(mask)
    assert cv2.countNonZero(mask) > local._WIDE_LIMITS["patchmatch"]
    truth = grainy(3000, 4000)
    result = local.inpaint(damaged(truth, mask), mask, "patchmatch")
    windows = [local._window(core, context, 3000, 4000) for core, context in local._blob_boxes(mask, 128)]
    assert seen == [filled_at or (y1 - y0, x1 - x0) for y0, x0, y1, x1 in windows]
    np.testing.assert_array_equal(result[mask == 0], truth[mask == 0])
    assert not (result[mask != 0] == MAGENTA).all(axis=1).any()


@pytest.mark.parametrize(
    "box",
    [(0, 0, 100, 130), (200, 0, 240, 320), (10, 10, 230, 310)],
    ids=["corner", "bottom-band", "all-but-a-10-px-frame"],
)
def test_detail_at_lower_resolution_at_the_edges_and_without_a_clean_tile(
    box: tuple[int, int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Holes on the window's edges (detail tiles clipped to the crop), and one that leaves no known tile
    # clean of the hole to copy detail from (the fill is then only scaled back).
    monkeypatch.setitem(local._LIMITS, "patchmatch", (1_000_000, 2_000))
    truth = grainy(240, 320)
    mask = np.zeros((240, 320), np.uint8)
    y0, x0, y1, x1 = box
    mask[y0:y1, x0:x1] = 255
    result = local.inpaint(damaged(truth, mask), mask, "patchmatch")
    np.testing.assert_array_equal(result[mask == 0], truth[mask == 0])
    assert not (result[mask != 0] == MAGENTA).all(axis=1).any()


def test_twelve_megapixel_photo_with_a_big_hole_stays_exact() -> None:
    truth = cv2.resize(gradient(300, 400), (4000, 3000), interpolation=cv2.INTER_LINEAR)
    mask = np.zeros((3000, 4000), np.uint8)
    cv2.ellipse(mask, (2000, 1500), (700, 450), 0, 0, 360, 255, -1)  # ~1 M hole pixels: above Telea's limit
    cv2.circle(mask, (3999, 2999), 40, 255, -1)
    result = local.inpaint(damaged(truth, mask), mask, "telea")
    np.testing.assert_array_equal(result[mask == 0], truth[mask == 0])
    assert not (result[mask != 0] == MAGENTA).all(axis=1).any()
    assert hole_mae(result, truth, mask) < 15  # Telea is coarse on holes this big, but never wild


@pytest.mark.parametrize("method", local.METHODS)
def test_strided_views_are_accepted(method: local.Method) -> None:
    image, mask = textured(160, 200), shapes(160, 200)["disc"]
    view, mask_view = image[::-1, ::2], mask[::-1, ::2]  # e.g. a flipped or subsampled array
    result = local.inpaint(view, mask_view, method)
    np.testing.assert_array_equal(result[mask_view == 0], view[mask_view == 0])


def test_empty_mask_returns_an_equal_copy() -> None:
    image = textured(50, 60)
    result = local.inpaint(image, np.zeros((50, 60), np.uint8))
    assert result is not image
    np.testing.assert_array_equal(result, image)


@pytest.mark.parametrize(
    ("image", "mask", "options", "message"),
    [
        (np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8), {}, "uint8 RGB"),
        (np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), {}, "H x W x 3"),
        (np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8), np.uint8), {}, "H x W x 3"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 1), np.uint8), {}, "mask must be an H x W"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), bool), {}, "uint8"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9), np.uint8), {}, "must match"),
        (np.zeros((0, 0, 3), np.uint8), np.zeros((0, 0), np.uint8), {}, "empty"),
        (np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 255, np.uint8), {}, "whole image"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8), {"method": "lama"}, "unknown method"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8), {"strategy": "tile"}, "unknown strategy"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8), {"margin": 0}, "margin"),
        ([[0]], np.zeros((8, 8), np.uint8), {}, "numpy arrays"),
    ],
)
def test_bad_inputs_raise_a_clear_value_error(
    image: object, mask: np.ndarray, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        local.inpaint(image, mask, **options)  # type: ignore[arg-type]  # wrong types are the point


def test_default_method_is_one_of_the_methods() -> None:
    assert local.DEFAULT_METHOD in local.METHODS
