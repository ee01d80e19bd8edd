"""Rough edges a new user hit on a first visit (issue 26): each test failed on the page as it was.

Screenshots go to test-output/screenshots/first-use-*.png.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from PIL import Image

from novita_ui.ui.texts import KEEP_LABEL
from tests.browser.conftest import BALL, scene
from tests.browser.helpers import (
    EDITOR_CANVAS,
    PHONE,
    choose_engine,
    choose_format,
    click_remove,
    drop_file,
    history_count,
    image_rect,
    paint_stroke,
    photo_info,
    set_grow,
    set_prompt,
    shot,
    wait_app_ready,
    wait_editor_ready,
    wait_result,
    wait_status,
    wait_toast,
)
from tests.images import encode

Pixels = np.ndarray


def _brush_size_in_editor(page: Any) -> int:
    """The size the editor's own Brush Size popup shows (opened and closed again)."""
    page.click('#editor button[aria-label="Brush Size"]')
    value = int(page.locator('#editor .toolbar-wrap input[type="range"]').input_value())
    page.mouse.click(5, 5)
    page.locator('#editor .toolbar-wrap input[type="range"]').wait_for(state="detached")
    return value


def test_the_brush_size_box_under_the_editor_takes_typing(keyless_app: Any, page: Any, photos: Any) -> None:
    page.goto(keyless_app.url)
    wait_app_ready(page)
    drop_file(page, photos["scene"])
    wait_editor_ready(page)
    box = page.locator('#brush-size input[type="number"]')
    assert box.is_enabled() and page.locator('#brush-size input[type="range"]').is_enabled()
    box.fill("40")
    box.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('#brush-size input[type=\"range\"]')?.value === '40'"
    )
    assert _brush_size_in_editor(page) == 40


def test_a_blank_editor_shows_no_zoom(keyless_app: Any, page: Any) -> None:
    page.goto(keyless_app.url)
    wait_app_ready(page)
    assert not page.locator("#editor .zoom-number").is_visible()  # "62 %" of nothing
    shot(page, "first-use-blank")


def test_the_first_screen_shows_photo_engine_format_and_remove(keyless_app: Any, page: Any) -> None:
    page.goto(keyless_app.url)
    wait_app_ready(page)
    height = page.viewport_size["height"]
    for selector in ("#editor", "#engine", "#remove", "#format"):
        box = page.locator(selector).bounding_box()
        assert box and box["y"] + box["height"] <= height, f"{selector} is below the first screen"
    # The rarely needed options are folded away, one click from view.
    assert not page.locator("#enterprise").is_visible() and not page.locator("#whole-photo").is_visible()
    page.click("#more-options button, #more-options .label-wrap")
    page.locator("#enterprise").wait_for(state="visible")
    assert page.locator("#whole-photo").is_visible()


def test_a_refused_removes_toast_reads_as_text(keyless_app: Any, page: Any, photos: Any) -> None:
    page.goto(keyless_app.url)
    wait_app_ready(page)
    page.click('#engine [data-testid="Novita Eraser-radio-label"]')
    drop_file(page, photos["scene"])
    wait_editor_ready(page)
    set_prompt(page, "car")
    click_remove(page)
    message = wait_toast(page, "API key")
    assert "*" not in message  # Markdown shown as such, not literally
    assert page.locator('[data-testid="toast-body"] strong').count() >= 2  # the title and the field name
    shot(page, "first-use-refused")
    assert photo_info(page)["name"]


# ---- helpers -----------------------------------------------------------------------------------------------


def _screen_pixels(page: Any, box: dict[str, float]) -> Pixels:
    """The RGB pixels on screen inside ``box`` (page coordinates of the viewport), from a real screenshot."""
    clip = {k: float(box[k]) for k in ("x", "y", "width", "height")}
    data = page.screenshot(clip=clip)
    pixels: Pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    return pixels


def _red(pixels: Pixels) -> Pixels:
    """Where the garden scene's red ball shows."""
    mask: Pixels = (pixels[..., 0] > 170) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    return mask


def _pink(pixels: Pixels) -> Pixels:
    """Where the translucent pink brush shows (over the sky and over the lawn)."""
    mask: Pixels = (pixels[..., 0] > 150) & (pixels[..., 2] > 120) & (pixels[..., 1] < 120)
    return mask


def _wait_until(page: Any, check: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Retry ``check`` on every other animation frame until it holds (the canvas and the slider redraw
    asynchronously); returns its last answer."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return True


def _open(page: Any, url: str, photo: Any) -> dict[str, Any]:
    page.goto(url)
    wait_app_ready(page)
    drop_file(page, photo)
    return wait_editor_ready(page)


def _paint_out_the_ball(page: Any) -> None:
    """A zigzag over the whole ball, grown a little, so the Offline fill takes all of it."""
    cx, cy, r = BALL[0], BALL[1], BALL[2] * 4 / 3  # r as a fraction of the 4:3 scene's height
    left, right = cx - BALL[2] * 1.2, cx + BALL[2] * 1.2
    rows = [cy - r * 0.75 + i * (r * 1.5 / 3) for i in range(4)]
    paint_stroke(page, *[p for i, y in enumerate(rows) for p in ((left, y), (right, y))[:: 1 - 2 * (i % 2)]])
    set_grow(page, 6)


def _picture_in_slider(page: Any) -> dict[str, float]:
    """Where the result's picture is drawn in the before/after slider (its image is letterboxed)."""
    page.locator("#result-slider").scroll_into_view_if_needed()
    img = page.locator('#result-slider img[data-testid="imageslider-image"]').last
    box = img.bounding_box()
    w, h = img.evaluate("(i) => [i.naturalWidth, i.naturalHeight]")
    scale = min(box["width"] / w, box["height"] / h)
    width, height = w * scale, h * scale
    left, top = box["x"] + (box["width"] - width) / 2, box["y"] + (box["height"] - height) / 2
    return {"x": left, "y": top, "width": width, "height": height}


def _is_red_at(page: Any, x: float, y: float) -> bool:
    return bool(_red(_screen_pixels(page, {"x": x - 2, "y": y - 2, "width": 5, "height": 5})).mean() > 0.5)


# ---- 390 x 844: the photo at the screen's width ------------------------------------------------------------


def test_on_a_phone_the_photo_spans_nearly_the_screens_width(
    keyless_app: Any, phone_page: Any, photos: Any
) -> None:
    page = phone_page
    pw, _ = _open(page, keyless_app.url, photos["scene"])["preview"]
    width = PHONE["width"]
    editor = page.locator("#editor").bounding_box()
    assert editor["width"] >= width - 20, (
        f"the editor is {editor['width']:.0f} px wide on a {width} px screen"
    )
    # The page zooms the photo to the editor's width once it is drawn.
    drawn = _wait_until(page, lambda: pw * image_rect(page)[2] >= 0.92 * width)
    shot(page, "first-use-phone-width")
    assert drawn, f"the photo is drawn {pw * image_rect(page)[2]:.0f} px wide on a {width} px screen"
    remove = page.locator("#remove").bounding_box()
    assert remove["y"] + remove["height"] <= PHONE["height"], "Remove is below the first screen"


# ---- Space + drag pans, whatever has focus -----------------------------------------------------------------


def _ball_and_pink(page: Any) -> tuple[tuple[float, float] | None, int]:
    """Where the ball shows in the editor (the centre of its red pixels) and how many pixels are painted pink.

    Painted: pink that survives a 5 x 5 erosion. The brush's outline, a pink ring 1-3 px thick that the editor
    draws under the pointer and may leave where the pointer last was, is not paint (a full run saw it come
    and go: 156 -> 0 and 0 -> 192 pixels); a stroke, 10 px wide or more on screen, is."""
    box = page.locator(EDITOR_CANVAS).bounding_box()
    pixels = _screen_pixels(page, box)
    ys, xs = np.nonzero(_red(pixels))
    centre = (box["x"] + float(xs.mean()), box["y"] + float(ys.mean())) if len(xs) else None
    painted = cv2.erode(_pink(pixels).astype(np.uint8), np.ones((5, 5), np.uint8))
    return centre, int(painted.sum())


def _ball_seen(page: Any) -> tuple[tuple[float, float], int]:
    """:func:`_ball_and_pink`, once the ball shows (on a loaded machine the editor may still be drawing the
    photo when its zoom has settled)."""
    seen: list[tuple[tuple[float, float] | None, int]] = [(None, 0)]

    def shows() -> bool:
        seen[0] = _ball_and_pink(page)
        return seen[0][0] is not None

    _wait_until(page, shows)
    centre, pink = seen[0]
    assert centre is not None, "the ball does not show in the editor"
    return centre, pink


def _space_drag(page: Any, by: tuple[float, float]) -> None:
    """Hold Space and drag across the middle of the editor by ``by`` pixels, then let go of both."""
    box = page.locator(EDITOR_CANVAS).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.keyboard.down(" ")
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 4):
        page.mouse.move(x + by[0] * i / 3, y + by[1] * i / 3)
    page.mouse.up()
    page.keyboard.up(" ")
    page.mouse.move(0, 0)  # the brush outline under the pointer would show in the screenshots


def _pans(page: Any, by: tuple[float, float]) -> None:
    """Space + drag moves the photo with the pointer and paints nothing."""
    (x0, y0), pink = _ball_seen(page)
    _space_drag(page, by)

    def moved() -> bool:
        centre, _ = _ball_and_pink(page)
        return centre is not None and abs(centre[0] - x0 - by[0]) < 15 and abs(centre[1] - y0 - by[1]) < 15

    assert _wait_until(page, moved, timeout=10), f"Space+drag did not pan (focus: {_focus(page)})"
    assert _ball_and_pink(page)[1] <= pink, f"Space+drag painted (focus: {_focus(page)})"


def _focus(page: Any) -> str:
    return str(page.evaluate("() => document.activeElement?.outerHTML.slice(0, 80)"))


def test_space_and_drag_pans_after_clicking_a_radio_or_a_button(
    keyless_app: Any, page: Any, photos: Any
) -> None:
    _open(page, keyless_app.url, photos["scene"])
    size = page.locator('#brush-size input[type="number"]')
    # The photo fits the editor: there is nothing to pan, and Space+drag paints nothing either.
    (x0, y0), _ = _ball_seen(page)
    _space_drag(page, (-90, -60))
    (x1, y1), pink = _ball_seen(page)
    assert pink == 0, "Space+drag painted over the photo"
    assert abs(x1 - x0) < 3 and abs(y1 - y0) < 3, "the photo moved"
    box = page.locator(EDITOR_CANVAS).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)  # zoomed in, the photo can be panned
    page.wait_for_function("() => !document.querySelector('#editor button[aria-label=Pan]')?.disabled")
    page.mouse.move(0, 0)
    choose_engine(page, "Offline")  # the engine's radio button has focus
    _pans(page, (-90, -60))
    page.click("#brush-size button")  # a button has focus: the brush size's reset
    page.keyboard.press("]")
    page.keyboard.press("]")
    grown = size.input_value()
    _pans(page, (60, 40))
    shot(page, "first-use-space-pan")
    assert size.input_value() == grown, "the Space meant for panning pressed the focused button"
    # Space alone (no drag) still presses the focused button, as keyboard users expect.
    page.focus("#brush-size button")  # the drag took the focus away, as a click on the photo does
    page.keyboard.press(" ")
    page.wait_for_function(
        "(n) => document.querySelector('#brush-size input[type=number]').value !== n", arg=grown
    )


# ---- a refused Remove leaves the page where it is ----------------------------------------------------------


def _frames(page: Any, count: int) -> None:
    """Let the page draw ``count`` frames."""
    page.evaluate(
        """(n) => new Promise((done) => {
            const next = (left) => (left ? requestAnimationFrame(() => next(left - 1)) : done());
            next(n); })""",
        count,
    )


def _in_view(page: Any, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return bool(box and box["y"] >= 0 and box["y"] + min(box["height"], 100) <= page.viewport_size["height"])


def test_a_refused_remove_leaves_the_page_where_it_is(keyless_app: Any, page: Any, photos: Any) -> None:
    _open(page, keyless_app.url, photos["scene"])
    page.evaluate(
        "() => { window.__nuScrolls = 0; addEventListener('scroll', () => { window.__nuScrolls++; }); }"
    )
    click_remove(page)  # nothing painted: the message points to the editor
    wait_toast(page, "Paint over")  # the refused job has ended: what follows it has run
    wait_status(page, "Not removed")
    _frames(page, 5)  # a scroll started by then shows in scrollY or in the scroll events
    assert page.evaluate("() => [window.scrollY, window.__nuScrolls]") == [0, 0], "the page scrolled away"
    assert _in_view(page, "#editor")
    choose_engine(page, "Novita Eraser")
    set_prompt(page, "ball")
    click_remove(page)  # no key anywhere: the message points to the key field
    wait_toast(page, "API key")
    wait_status(page, "API key")
    _frames(page, 5)
    shot(page, "first-use-refused-in-place")
    assert page.evaluate("() => [window.scrollY, window.__nuScrolls]") == [0, 0], "the page scrolled away"
    assert _in_view(page, "#api-key")


# ---- the result: whole at first sight, compared by dragging, Keep editing only with a result ---------------


def test_keep_editing_shows_only_with_a_result_and_keeps_its_label(
    keyless_app: Any, page: Any, photos: Any
) -> None:
    keep = page.locator("#keep-editing")
    _open(page, keyless_app.url, photos["scene"])
    assert not keep.is_visible(), "Keep editing shows before there is any result to keep"
    click_remove(page)  # refused: nothing painted
    wait_status(page, "Not removed")
    shot(page, "first-use-keep-refused", full_page=True)
    assert not keep.is_visible(), f"after a refusal, Keep editing shows as {keep.inner_text()!r}"
    _paint_out_the_ball(page)
    click_remove(page)
    first = wait_result(page, timeout=240_000)
    assert keep.is_visible() and keep.is_enabled() and keep.inner_text() == KEEP_LABEL
    choose_engine(page, "Novita Eraser")
    click_remove(page)  # refused again (no key): the result, its history and Keep editing stay
    wait_status(page, "API key")
    assert keep.inner_text() == KEEP_LABEL and keep.is_enabled() and history_count(page) == 1
    keep.click()
    wait_status(page, f"Editing the result further ({first['name']})")


def _drag_handle(page: Any, picture: dict[str, float], to: float) -> None:
    """Drag the slider's handle to ``to`` (a fraction of the picture's width)."""
    handle = page.locator('#result-slider [data-testid="slider"]').bounding_box()
    y = handle["y"] + handle["height"] / 2
    page.mouse.move(handle["x"] + handle["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(picture["x"] + picture["width"] * to, y, steps=5)
    page.mouse.up()


def _result_shows_whole(page: Any) -> tuple[float, float]:
    """Check that the slider shows the result whole, its handle at the picture's left edge; returns a spot
    inside the ball, left of the picture's middle (where a slider at 50 % showed the photo as it was)."""
    picture = _picture_in_slider(page)
    spot = (
        picture["x"] + picture["width"] * (BALL[0] - BALL[2] * 0.5),
        picture["y"] + picture["height"] * BALL[1],
    )
    assert _wait_until(page, lambda: not _is_red_at(page, *spot), timeout=10), "the result shows the ball"
    handle = page.locator('#result-slider [data-testid="slider"]').bounding_box()
    assert abs(handle["x"] + handle["width"] / 2 - picture["x"]) < 3, "the handle is not at the left edge"
    return spot


def test_a_result_shows_whole_at_first_and_dragging_the_handle_compares(
    keyless_app: Any, page: Any, photos: Any
) -> None:
    _open(page, keyless_app.url, photos["scene"])
    _paint_out_the_ball(page)
    click_remove(page)
    first = wait_result(page, timeout=240_000)
    spot = _result_shows_whole(page)
    shot(page, "first-use-result-at-first")
    # Dragging the handle right shows the photo as it was on its left.
    _drag_handle(page, _picture_in_slider(page), 0.8)
    assert _wait_until(page, lambda: _is_red_at(page, *spot), timeout=10), "dragging did not compare"
    shot(page, "first-use-result-dragged")
    # The next result shows whole again, however the last one was left; dragging still compares.
    paint_stroke(page, (0.15, 0.8), (0.3, 0.8))
    click_remove(page)
    wait_result(page, first, timeout=240_000)
    spot = _result_shows_whole(page)
    picture = _picture_in_slider(page)
    _drag_handle(page, picture, 0.8)
    assert _wait_until(page, lambda: _is_red_at(page, *spot), timeout=10), "dragging did not compare"
    _drag_handle(page, picture, 0.0)
    assert _wait_until(page, lambda: not _is_red_at(page, *spot), timeout=10), "dragging back kept the photo"


def test_on_a_phone_a_finger_drags_the_handle_clear_of_the_screens_edge(
    keyless_app: Any, phone_page: Any, photos: Any
) -> None:
    page = phone_page
    touch = page.context.new_cdp_session(page)
    # A touch screen from the start: the slider listens for touches only where the page has them.
    touch.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 1})
    _open(page, keyless_app.url, photos["scene"])
    _paint_out_the_ball(page)
    click_remove(page)
    wait_result(page, timeout=240_000)
    spot = _result_shows_whole(page)
    handle = page.locator('#result-slider [data-testid="slider"]').bounding_box()
    line = handle["x"] + handle["width"] / 2
    shot(page, "first-use-phone-result")
    # Within about 24 px of the screen's edge a finger's swipe is the phone's Back gesture, not a drag.
    assert line >= 24, f"the handle is {line:.0f} px from the screen's edge"
    x, y = line + 6, handle["y"] + handle["height"] / 2
    for kind, dx in (("touchStart", 0), ("touchMove", 60), ("touchMove", 120), ("touchMove", 180)):
        touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x + dx, "y": y}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    touch.detach()
    assert _wait_until(page, lambda: _is_red_at(page, *spot), timeout=10), "a finger did not drag the handle"
    shot(page, "first-use-phone-handle-dragged")


def _transparent_garden(path: Any) -> Any:
    """The garden scene as a PNG whose top-left quarter is fully transparent."""
    rgb = scene(800, 600)
    alpha = np.full((600, 800), 255, np.uint8)
    alpha[:300, :400] = 0
    path.write_bytes(encode(np.dstack([rgb, alpha]), "PNG"))
    return path


def _checkerboard(pixels: Pixels) -> bool:
    """Whether the pixels show the transparency checkerboard's two greys (#d9d9d9 and white)."""
    grey = (np.abs(pixels - 217) <= 6).all(axis=-1).mean()
    white = (pixels >= 250).all(axis=-1).mean()
    return bool(grey > 0.2 and white > 0.2)


def test_an_opaque_photos_result_shows_no_checkerboard(
    keyless_app: Any, page: Any, photos: Any, tmp_path: Any
) -> None:
    _open(page, keyless_app.url, photos["scene"])
    choose_format(page, "png")  # a PNG result of an opaque photo has no transparency to show
    _paint_out_the_ball(page)
    click_remove(page)
    wait_result(page, timeout=240_000)
    picture = _picture_in_slider(page)
    slider = page.locator('#result-slider img[data-testid="imageslider-image"]').last.bounding_box()
    shot(page, "first-use-opaque-png-result")
    # The strips beside the picture (the slider is wider than the photo) show the page, not a checkerboard.
    right = slider["x"] + slider["width"] - 44
    for x in (slider["x"] + 4, right):
        strip = {"x": x, "y": picture["y"] + 4, "width": 40, "height": 200}
        assert not _overlap(strip, picture), "no strip beside the picture to look at"
        assert not _checkerboard(_screen_pixels(page, strip)), "a checkerboard shows beside an opaque photo"
    # A transparent photo's result still shows its transparent part as a checkerboard.
    previous = photo_info(page)
    page.locator("#editor").scroll_into_view_if_needed()
    drop_file(page, _transparent_garden(tmp_path / "cut-out.png"))
    wait_editor_ready(page, previous=previous)
    _paint_out_the_ball(page)
    click_remove(page)
    wait_result(page, timeout=240_000)
    picture = _picture_in_slider(page)
    corner = {"x": picture["x"] + 8, "y": picture["y"] + 8, "width": 64, "height": 64}
    shot(page, "first-use-transparent-png-result")
    assert _checkerboard(_screen_pixels(page, corner)), "the transparent corner shows no checkerboard"


# ---- the mask file's box: its label above its icon ---------------------------------------------------------


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def test_the_mask_upload_label_leaves_its_icon_and_text_visible(keyless_app: Any, page: Any) -> None:
    page.goto(keyless_app.url)
    wait_app_ready(page)
    for name in ("desktop", "phone"):
        if name == "phone":
            page.set_viewport_size(PHONE)
        page.locator("#mask-upload").scroll_into_view_if_needed()
        shot(page, f"first-use-mask-upload-{name}")
        area = page.locator("#mask-upload").bounding_box()
        label = page.locator('#mask-upload [data-testid="block-label"]').bounding_box()
        for part in ("#mask-upload .icon-wrap", "#mask-upload .upload-container .wrap > :last-child"):
            box = page.locator(part).first.bounding_box()
            assert not _overlap(label, box), f"{name}: the label covers {part}"
            assert area["y"] <= box["y"] and box["y"] + box["height"] <= area["y"] + area["height"], (
                f"{name}: {part} is cut off"
            )
