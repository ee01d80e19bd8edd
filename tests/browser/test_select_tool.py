"""The select tool in the page: drag a box around an object (mouse, or a finger on a phone), the object's
outline comes back in pink as strokes, Remove takes it away, Ctrl+Z takes the selection back.

Screenshots go to test-output/screenshots/select-*.png.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.browser.helpers import (
    click_remove,
    download,
    drop_file,
    image_rect,
    photo_info,
    shot,
    wait_app_ready,
    wait_editor_ready,
    wait_result,
    wait_status,
)
from tests.images import encode
from tests.scenes import iou, scene

SIZE = (1600, 1200)


@pytest.fixture(scope="module")
def car(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    made = scene("car", *SIZE)
    path = tmp_path_factory.mktemp("select") / "street.jpg"
    path.write_bytes(encode(made.rgb, quality=95))
    return path, made


def _screen(page: Any, x: float, y: float) -> tuple[float, float]:
    """Screen position of an ORIGINAL-photo pixel."""
    left, top, zoom = image_rect(page)
    (pw, _), (ow, _) = photo_info(page)["preview"], photo_info(page)["size"]
    k = pw / ow * zoom
    return left + x * k, top + y * k


def _pinkness(page: Any, x: float, y: float) -> float:
    """How far the pixel on screen at ORIGINAL-photo (x, y) leans to the brush's magenta (R+B-2G)."""
    sx, sy = _screen(page, x, y)
    data = page.screenshot(clip={"x": int(sx) - 2, "y": int(sy) - 2, "width": 5, "height": 5})
    r, g, b = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(float).mean(axis=(0, 1))
    return float(r + b - 2 * g)


def _wait_pink(page: Any, x: float, y: float, pink: bool, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (_pinkness(page, x, y) > 150) != pink:
        assert time.monotonic() < deadline, f"({x}, {y}) never became {'pink' if pink else 'plain'}"
        page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _drag_box(page: Any, box: tuple[int, int, int, int], pointer: str = "mouse") -> None:
    """Drag from one corner of ``box`` (ORIGINAL-photo pixels) to the other, with a mouse or a finger."""
    (x0, y0), (x1, y1) = _screen(page, box[0], box[1]), _screen(page, box[2], box[3])
    if pointer == "mouse":
        page.mouse.move(x0, y0)
        page.mouse.down()
        for i in range(1, 4):
            page.mouse.move(x0 + (x1 - x0) * i / 3, y0 + (y1 - y0) * i / 3)
        page.mouse.up()
        page.mouse.move(0, 0)
        return
    # A finger: the pointer events a touch screen sends (pointerType "touch").
    page.evaluate(
        """([x0, y0, x1, y1]) => {
            const el = document.elementFromPoint(x0, y0);
            const send = (type, x, y) => el.dispatchEvent(new PointerEvent(type, {
                bubbles: true, cancelable: true, pointerId: 7, pointerType: 'touch', isPrimary: true,
                clientX: x, clientY: y}));
            send('pointerdown', x0, y0);
            for (let i = 1; i <= 3; i++) send('pointermove', x0 + (x1 - x0) * i / 3, y0 + (y1 - y0) * i / 3);
            send('pointerup', x1, y1);
        }""",
        [x0, y0, x1, y1],
    )


def _inside_and_outside(made: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """A point on the car's body, and one inside the box but off the car (above its bonnet)."""
    x0, y0, x1, y1 = made.box
    return (int(x0 + (x1 - x0) * 0.2), int(y0 + (y1 - y0) * 0.55)), (x0 + 12, y0 + 12)


def _select_the_car(
    page: Any, app: Any, car: tuple[Path, Any], pointer: str = "mouse"
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Open the page, drop the street photo, turn the select tool on and drag a box around the car (mouse, or
    a finger on a phone); returns once the car's outline shows pink: (a point on the car, one in the box but
    off the car)."""
    path, made = car
    page.goto(app.url)
    wait_app_ready(page)
    drop_file(page, path)
    wait_editor_ready(page)
    on_car, off_car = _inside_and_outside(made)
    on_phone = pointer == "touch"  # the phone's page is taller than its screen: the button, then the editor
    if on_phone:
        page.locator("#select-tool").scroll_into_view_if_needed()
    page.click("#select-tool")
    assert page.get_attribute("#select-tool", "aria-pressed") == "true"
    if on_phone:
        page.locator("#editor").scroll_into_view_if_needed()
    _drag_box(page, made.box, pointer)
    wait_status(page, "The object is selected", timeout=90_000)
    _wait_pink(page, *on_car, pink=True)
    return on_car, off_car


def test_a_box_around_the_car_selects_its_outline_and_remove_takes_it(
    page: Any, keyless_app: Any, car: tuple[Path, Any]
) -> None:
    path, made = car
    _, off_car = _select_the_car(page, keyless_app, car)
    assert _pinkness(page, *off_car) < 150  # the box's corner is not selected: the outline is
    shot(page, "select-desktop")
    click_remove(page)
    wait_result(page, timeout=120_000)
    _, data = download(page)
    result = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    original = np.asarray(Image.open(path).convert("RGB")).astype(int)
    changed = np.abs(result - original).max(axis=2) > 12
    assert iou(changed, made.truth) > 0.8  # the car went, the street around it stayed


def test_ctrl_z_takes_the_selection_back(page: Any, keyless_app: Any, car: tuple[Path, Any]) -> None:
    on_car, _ = _select_the_car(page, keyless_app, car)
    page.keyboard.press("Control+z")
    wait_status(page, "The selection is undone")
    _wait_pink(page, *on_car, pink=False)
    assert photo_info(page)["name"] == "street.jpg"  # the photo stayed (the editor's Undo would blank it)


def test_a_finger_drags_the_box_on_a_phone(phone_page: Any, keyless_app: Any, car: tuple[Path, Any]) -> None:
    _, off_car = _select_the_car(phone_page, keyless_app, car, pointer="touch")
    assert _pinkness(phone_page, *off_car) < 150
    shot(phone_page, "select-phone")
