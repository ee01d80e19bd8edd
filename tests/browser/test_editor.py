"""The editor as a user meets it: a see-through mask, shortcuts, brush size, compare, history, phone.

Screenshots go to test-output/screenshots/editor-*.png. Pixels are read from real screenshots of the page.
"""

from __future__ import annotations

import io
import itertools
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image

from novita_ui.ui.editor import BRUSH_RADIUS, MASK_COLOUR
from tests.browser.conftest import BALL
from tests.browser.helpers import (
    EDITOR_CANVAS,
    EDITOR_DRAWING,
    EDITOR_ZOOM,
    TOOL_BRUSH,
    click_remove,
    download,
    drop_file,
    image_rect,
    paint_stroke,
    photo_info,
    set_grow,
    set_prompt,
    settle,
    shot,
    status_text,
    wait_app_ready,
    wait_editor_ready,
    wait_result,
)
from tests.fake_novita import TaskPlan

MAGENTA = np.array([int(MASK_COLOUR[i : i + 2], 16) for i in (1, 3, 5)])
Pixel = np.ndarray


def _pixel(page: Any, x: float, y: float) -> Pixel:
    """The colour on screen at (x, y), from a real screenshot."""
    data = page.screenshot(clip={"x": int(x) - 1, "y": int(y) - 1, "width": 3, "height": 3})
    pixels: Pixel = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    return np.asarray(pixels[1, 1])


def _on_screen(page: Any, fx: float, fy: float) -> tuple[float, float]:
    """Screen position of a point given as fractions of the photo in the editor."""
    left, top, zoom = image_rect(page)
    pw, ph = photo_info(page)["preview"]
    return left + fx * pw * zoom, top + fy * ph * zoom


def _wait_pixel(page: Any, x: float, y: float, ok: Callable[[Pixel], bool], timeout: float = 60.0) -> Pixel:
    """Retry until the pixel at (x, y) satisfies ok (the canvas redraws asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        colour = _pixel(page, x, y)
        if ok(colour) or time.monotonic() > deadline:
            return colour
        page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _result(page: Any, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """wait_result with room for a loaded machine; a timeout says what the status line showed."""
    try:
        return wait_result(page, previous, timeout=240_000)
    except Exception as error:
        raise AssertionError(f"no result; status: {status_text(page)!r}") from error


def _near(a: Pixel, b: Pixel, tolerance: int = 30) -> bool:
    return int(np.abs(a - b).max()) <= tolerance


def _open(page: Any, url: str, photo: Any) -> dict[str, Any]:
    page.goto(url)
    wait_app_ready(page)
    drop_file(page, photo)
    return wait_editor_ready(page)


def _red(pixels: np.ndarray) -> int:
    return int(((pixels[..., 0] > 170) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)).sum())


def _over_the_ball(page: Any) -> None:
    """A zigzag across the ball (fractions of the 4:3 scene)."""
    cx, cy, r = BALL[0], BALL[1], BALL[2] * 4 / 3
    left, right = cx - BALL[2] * 1.2, cx + BALL[2] * 1.2
    rows = [cy - r * 0.75 + i * (r * 1.5 / 3) for i in range(4)]
    zigzag = [p for i, y in enumerate(rows) for p in ((left, y), (right, y))[:: 1 if i % 2 == 0 else -1]]
    paint_stroke(page, *zigzag)


def test_the_mask_is_see_through_and_a_translucent_stroke_is_removed(keyless_app, page, photos):
    _open(page, keyless_app.url, photos["scene"])
    sky = _on_screen(page, 0.3, 0.2)
    photo_colour = _pixel(page, *sky)
    toolbar = page.locator("#editor .toolbar-wrap").bounding_box()
    left, _, _ = image_rect(page)
    assert toolbar["x"] + toolbar["width"] <= left, "the tool palette covers the photo"
    paint_stroke(page, (0.2, 0.2), (0.4, 0.2))
    seen = _wait_pixel(page, *sky, lambda c: not _near(c, photo_colour))
    shot(page, "editor-desktop-translucent-stroke")
    # Neither the photo nor the brush's pure colour: a blend, so the edge under the mask stays visible.
    assert not _near(seen, photo_colour), (seen, photo_colour)
    assert not _near(seen, MAGENTA, 40), seen
    assert _near(seen, (photo_colour + MAGENTA) / 2, 45), (seen, photo_colour)
    # A translucent stroke (alpha ~128 in the layer) is a full mask: the ball under it goes.
    _over_the_ball(page)
    set_grow(page, 6)
    click_remove(page)
    _result(page)
    _, data = download(page)
    out = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    original = np.asarray(Image.open(photos["scene"]).convert("RGB")).astype(int)
    assert _red(out) < _red(original) * 0.02, "the ball under the translucent stroke is still there"


def _brush_size_in_editor(page: Any) -> int:
    """The size the editor's own Brush Size popup shows (opened and closed again), read once the page script
    has finished applying the last size change (it opens that popup itself: a read before then sees the old
    size, or closes the popup under the script's feet)."""
    page.evaluate("() => window.nuBrushSizeSettled?.()")
    page.locator('#editor .toolbar-wrap input[type="range"]').wait_for(state="detached")
    settle(page)
    page.click('#editor button[aria-label="Brush Size"]')
    value = int(page.locator('#editor .toolbar-wrap input[type="range"]').input_value())
    page.mouse.click(5, 5)
    page.locator('#editor .toolbar-wrap input[type="range"]').wait_for(state="detached")
    return value


@pytest.mark.timeout(900)  # many canvas redraws under SwiftShader; slow on a loaded machine
def test_shortcuts_undo_redo_size_zoom_pan_and_enter(keyless_app, page, photos):
    _open(page, keyless_app.url, photos["scene"])
    first, second = _on_screen(page, 0.3, 0.15), _on_screen(page, 0.3, 0.3)
    photo_first, photo_second = _pixel(page, *first), _pixel(page, *second)
    paint_stroke(page, (0.2, 0.15), (0.4, 0.15))
    paint_stroke(page, (0.2, 0.3), (0.4, 0.3))
    painted = _wait_pixel(page, *second, lambda c: not _near(c, photo_second))
    assert not _near(painted, photo_second)
    # Typing in a text box is typing: no undo, no size change, no Remove.
    set_prompt(page, "a[b]")
    page.press("#prompt input, #prompt textarea", "Control+z")
    page.press("#prompt input, #prompt textarea", "Enter")
    assert page.input_value('#brush-size input[type="number"]') == str(BRUSH_RADIUS)
    assert not _near(_pixel(page, *second), photo_second), "Ctrl+Z in the prompt undid a stroke"
    assert "Preparing" not in status_text(page)
    page.click("h2")  # focus leaves the text box
    page.keyboard.press("Control+z")
    assert _near(_wait_pixel(page, *second, lambda c: _near(c, photo_second)), photo_second), "Ctrl+Z"
    assert not _near(_pixel(page, *first), photo_first), "Ctrl+Z removed more than the last stroke"
    shot(page, "editor-desktop-after-ctrl-z")
    page.keyboard.press("Control+Shift+z")
    assert not _near(_wait_pixel(page, *second, lambda c: not _near(c, photo_second)), photo_second)
    page.keyboard.press("Control+z")
    _wait_pixel(page, *second, lambda c: _near(c, photo_second))
    page.keyboard.press("Control+y")
    assert not _near(_wait_pixel(page, *second, lambda c: not _near(c, photo_second)), photo_second)
    # [ and ] change the size in the visible control and in the editor itself.
    page.keyboard.press("]")
    page.keyboard.press("]")
    grown = int(page.input_value('#brush-size input[type="number"]'))
    assert grown > BRUSH_RADIUS + 5
    assert _brush_size_in_editor(page) == grown
    page.keyboard.press("[")
    smaller = int(page.input_value('#brush-size input[type="number"]'))
    assert smaller < grown
    # The wheel zooms in (Gradio alone needs Alt+wheel), then Space+drag pans.
    box = page.locator(EDITOR_CANVAS).bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    before = page.inner_text(EDITOR_ZOOM)
    page.mouse.wheel(0, -400)
    page.wait_for_function(
        "(z) => document.querySelector('#editor .zoom-number span').textContent !== z", arg=before
    )
    zoomed = float(page.inner_text(EDITOR_ZOOM).rstrip("%"))
    assert zoomed > float(before.rstrip("%")), (before, zoomed)
    probe = (cx - 60, cy - 60)
    settled = _pixel(page, *probe)
    page.keyboard.down(" ")
    page.wait_for_function(
        "() => /highlight/.test(document.querySelector('#editor button[aria-label=Pan]').className)"
    )
    page.mouse.move(cx, cy)
    page.mouse.down()
    for i in range(1, 4):
        page.mouse.move(cx + 60 * i, cy + 40 * i)
    page.mouse.up()
    page.keyboard.up(" ")
    assert not _near(_wait_pixel(page, *probe, lambda c: not _near(c, settled, 8)), settled, 8), "no pan"
    page.wait_for_function(  # back to the brush once Space is up (the toolbar re-renders a moment later)
        "(s) => /highlight/.test(document.querySelector(s)?.className || '')", arg=TOOL_BRUSH
    )
    shot(page, "editor-desktop-zoomed-panned")
    page.mouse.move(0, 0)
    page.keyboard.press("Enter")
    result = _result(page)
    assert result["engine"] == "local"


@pytest.mark.timeout(900)  # two removals
def test_hold_to_compare_and_history_rounds_tell_apart(keyless_app, page, photos):
    _open(page, keyless_app.url, photos["scene"])
    _over_the_ball(page)
    set_grow(page, 6)
    click_remove(page)
    first = _result(page)
    name1, _ = download(page)
    # Inside the ball, right of the slider's handle: the result shows there, not the red ball.
    page.locator("#result-slider").scroll_into_view_if_needed()
    img = page.locator('#result-slider img[data-testid="imageslider-image"]').first.bounding_box()
    spot = (img["x"] + img["width"] * (BALL[0] + BALL[2] * 0.5), img["y"] + img["height"] * BALL[1])
    after_colour = _wait_pixel(page, *spot, lambda c: _red(c[None, None]) == 0)
    assert _red(after_colour[None, None]) == 0, after_colour
    page.mouse.move(*_centre(page, "#compare"))
    page.mouse.down()
    held = _wait_pixel(page, *spot, lambda c: _red(c[None, None]) == 1)
    shot(page, "editor-desktop-compare-held")
    page.mouse.up()
    assert _red(held[None, None]) == 1, f"holding Compare did not show the original: {held}"
    assert _red(_wait_pixel(page, *spot, lambda c: _red(c[None, None]) == 0)[None, None]) == 0
    page.mouse.move(0, 0)
    page.keyboard.down("c")
    assert _red(_wait_pixel(page, *spot, lambda c: _red(c[None, None]) == 1)[None, None]) == 1, "C key"
    page.keyboard.up("c")
    # A second round on the same photo: a new number, its own time, its own download name.
    page.locator("#editor").scroll_into_view_if_needed()
    paint_stroke(page, (0.2, 0.7), (0.4, 0.7))
    click_remove(page)
    _result(page, first)
    name2, _ = download(page)
    captions = page.locator("#history .caption-label").all_inner_texts()
    shot(page, "editor-desktop-history", full_page=True)
    assert name1 == "garden-cleaned.jpg" and name2 == "garden-cleaned-2.jpg", (name1, name2)
    assert len(captions) == 2 and captions[0] != captions[1], captions
    assert captions[0].startswith("#2 ") and captions[1].startswith("#1 "), captions
    assert "garden-cleaned-2.jpg" in captions[0] and "Offline" in captions[0], captions


def _centre(page: Any, selector: str) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _touch_stroke(page: Any, points: list[tuple[float, float]]) -> None:
    """A one-finger stroke through real touch events (CDP), as a phone sends them."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 1})
        kinds = ["touchStart"] + ["touchMove"] * (len(points) - 1)
        for kind, (x, y) in zip(kinds, points, strict=True):
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


def test_phone_full_width_photo_remove_in_reach_and_touch_paints(keyless_app, phone_page, photos):
    page = phone_page
    _open(page, keyless_app.url, photos["scene"])
    pw, ph = photo_info(page)["preview"]
    width = page.viewport_size["width"]
    try:  # the page zooms the photo to the screen's width once it is drawn
        page.wait_for_function(
            """([pw, min]) => parseFloat(document.querySelector('#editor .zoom-number span').textContent)
                              / 100 * pw >= min""",
            arg=[pw, 0.92 * width],  # 368 of 390 px: the page keeps 6 px margins on a phone
            timeout=60_000,
        )
    except Exception as error:
        zoom = image_rect(page)[2]
        raise AssertionError(f"the photo is drawn {pw * zoom:.0f} px wide on a {width} px screen") from error
    wait_editor_ready(page, previous={})  # the zoom has settled
    _, top, zoom = image_rect(page)
    shot(page, "editor-phone-loaded")
    remove = page.locator("#remove").bounding_box()
    assert remove["y"] + remove["height"] <= page.viewport_size["height"], "Remove is below the fold"
    toolbar = page.locator("#editor .toolbar-wrap").bounding_box()
    assert toolbar["y"] >= top + ph * zoom - 1, "the tool palette covers the photo"
    spot = _on_screen(page, 0.3, 0.2)
    photo_colour = _pixel(page, *spot)
    _touch_stroke(page, [_on_screen(page, 0.15 + 0.05 * i, 0.2) for i in range(6)])
    painted = _wait_pixel(page, *spot, lambda c: not _near(c, photo_colour))
    shot(page, "editor-phone-touch-stroke")
    assert not _near(painted, photo_colour), "a touch stroke did not paint"
    click_remove(page)
    result = _result(page)
    shot(page, "editor-phone-result", full_page=True)
    assert result["engine"] == "local"


def test_the_gradio_pieces_the_page_script_drives(keyless_app, page, photos):
    """What novita_ui/ui/editor_page.py relies on in Gradio's ImageEditor: a Gradio upgrade that renames or
    drops one of these fails here, by name, instead of silently disabling a shortcut."""
    _open(page, keyless_app.url, photos["small"])
    labels = page.eval_on_selector_all(
        "#editor button", "(bs) => bs.map((b) => b.getAttribute('aria-label'))"
    )
    for label in ("Brush", "Erase", "Brush Size", "Pan", "Undo", "Redo", "Zoom in"):
        assert label in labels, f"the editor has no {label!r} button: {labels}"
    assert "highlight" in (page.locator(TOOL_BRUSH).get_attribute("class") or "")  # the active-tool marker
    assert page.locator("#editor .toolbar-wrap").count() == 1
    page.click('#editor button[aria-label="Brush Size"]')
    size = page.locator('#editor .toolbar-wrap input[type="range"]')
    assert int(size.input_value()) == BRUSH_RADIUS and size.get_attribute("max") == "100"
    page.mouse.click(5, 5)
    size.wait_for(state="detached")
    # Gradio zooms on Alt+wheel (the page script turns a plain wheel into that).
    box = page.locator(EDITOR_CANVAS).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    before = page.inner_text(EDITOR_ZOOM)
    page.keyboard.down("Alt")
    page.mouse.wheel(0, -300)
    page.keyboard.up("Alt")
    page.wait_for_function(
        "(z) => document.querySelector('#editor .zoom-number span').textContent !== z", arg=before
    )


def test_without_a_gpu_the_editor_leaves_out_what_a_cpu_draws_slowly(keyless_app, page):
    """Headless Chromium draws WebGL on the CPU (SwiftShader), as a browser on a machine without a GPU does.
    There the page gives the editor at most 8 texture units and no drop shadow: a frame costs ~30 % of
    Gradio's drawing (benchmarks/bench_editor_frames.py). Every other test here paints and sees its strokes
    with this drawing."""
    page.goto(keyless_app.url)
    wait_app_ready(page)
    page.wait_for_function("() => window.nuEditorDrawing")
    assert page.evaluate("() => window.nuEditorDrawing") == "software"
    drawing = page.evaluate(EDITOR_DRAWING)
    assert (drawing["units"], drawing["shadows"]) == (8, 0), drawing


def test_with_a_gpu_the_editor_draws_as_gradio_does(keyless_app, page):
    """A browser with a real GPU keeps Gradio's editor untouched (all its texture units, its shadow): the
    renderer's name is made to read as a GPU's before the page loads."""
    page.add_init_script(
        """(() => {
          const get = WebGL2RenderingContext.prototype.getParameter;
          WebGL2RenderingContext.prototype.getParameter = function (name) {
            const info = this.getExtension('WEBGL_debug_renderer_info');
            const gpu = 'ANGLE (NVIDIA, NVIDIA GeForce RTX 3060)';
            return info && name === info.UNMASKED_RENDERER_WEBGL ? gpu : get.call(this, name);
          };
        })()"""
    )
    page.goto(keyless_app.url)
    wait_app_ready(page)
    page.wait_for_function("() => window.nuEditorDrawing")
    assert page.evaluate("() => window.nuEditorDrawing") == "gpu"
    drawing = page.evaluate(EDITOR_DRAWING)
    assert drawing["units"] > 8 and drawing["shadows"] == 1, drawing


def test_quick_presses_of_the_size_keys_leave_the_editor_at_the_size_shown(keyless_app, page, photos):
    """Three ] in one go (a held key repeats this fast): the editor paints with the size the control shows,
    not the first press's (the presses used to race: 29 shown, 23 painted)."""
    _open(page, keyless_app.url, photos["small"])
    page.click("h2")  # focus on the page, not in a text box
    page.evaluate(
        """() => { for (let i = 0; i < 3; i++) {
            document.dispatchEvent(new KeyboardEvent('keydown', {key: ']', bubbles: true})); } }"""
    )
    shown = int(page.input_value('#brush-size input[type="number"]'))
    assert shown > BRUSH_RADIUS * 1.9, shown  # 18 -> 23 -> 29 -> 36
    assert _brush_size_in_editor(page) == shown
    page.keyboard.press("[")
    smaller = int(page.input_value('#brush-size input[type="number"]'))
    assert smaller < shown and _brush_size_in_editor(page) == smaller


# Counts the animation frames a page asks for. Added before the page's own scripts, so every request of a
# frame goes through it (the page's own throttle, page.EARLY_SCRIPT, only passes on the frames it lets run).
_COUNT_FRAMES = """(() => {
  const frame = window.requestAnimationFrame.bind(window);
  window.nuFramesAsked = 0;
  window.requestAnimationFrame = (callback) => { window.nuFramesAsked += 1; return frame(callback); };
})()"""
# A rate needs windows of time: the frames asked in each second after the editor goes idle, until a second
# asks for at most `quiet` frames (Gradio's own animations of a new page take ~3 s to settle) or after
# `windows` seconds.
_FRAMES_PER_SECOND = """async ([windows, quiet]) => {
  const counts = [];
  while (counts.length < windows && !(counts.length && counts.at(-1) <= quiet)) {
    const from = window.nuFramesAsked;
    await new Promise((done) => setTimeout(done, 1000));
    counts.push(window.nuFramesAsked - from);
  }
  return counts;
}"""
_EDITOR_IDLE = "() => !!window.editor?.app?.ticker && !window.editor.app.ticker.started"
_TIMER = "#status [data-testid='status-tracker'] .progress-text"


def _idle_frames(tab: Any, url: str, windows: int, quiet: int) -> list[int]:
    """Frames asked per second by a freshly loaded page whose editor is idle (see _FRAMES_PER_SECOND)."""
    tab.add_init_script(_COUNT_FRAMES)
    tab.goto(url)
    wait_app_ready(tab)
    tab.wait_for_function(_EDITOR_IDLE)
    counts: list[int] = tab.evaluate(_FRAMES_PER_SECOND, [windows, quiet])
    return counts


def test_an_idle_tab_asks_for_no_frames_and_a_jobs_timer_still_counts(
    keyed_app, fake_novita, page, browser, photos
):
    """Gradio's page went on drawing 60 frames a second with nobody touching it (PIXI's system ticker and the
    status trackers' timer): ~8 % of a core per open tab here. Idle, the page now asks for a few a second;
    painting works as before, and a job's timer still counts its seconds."""
    frames = _idle_frames(page, keyed_app.url, windows=10, quiet=8)
    assert frames[-1] <= 8, f"the idle page still asks for many frames each second: {frames}"
    gradio = browser.new_page()  # the same page with Gradio's frames, measured for as long
    try:
        gradio.add_init_script("window.NU_GRADIO_FRAMES = true;")
        gradios_frames = _idle_frames(gradio, keyed_app.url, windows=len(frames), quiet=-1)
    finally:
        gradio.close()
    assert gradios_frames[-1] >= 30, f"Gradio's page no longer draws while idle: {gradios_frames}"
    page.bring_to_front()

    drop_file(page, photos["small"])
    wait_editor_ready(page)
    paint_stroke(page, (0.3, 0.4), (0.6, 0.5))  # the editor wakes from idle at once: see _result below

    fake_novita.task_plan = TaskPlan(duration=2.5)
    page.evaluate(  # every time the status's timer shows (it restarts when Novita reports progress)
        """(sel) => { window.nuTimes = [];
            new MutationObserver(() => { const t = document.querySelector(sel)?.textContent.trim();
                                         if (t && window.nuTimes.at(-1) !== t) window.nuTimes.push(t); })
              .observe(document.querySelector('#status'),
                       {childList: true, subtree: true, characterData: true}); }""",
        _TIMER,
    )
    click_remove(page)
    result = _result(page)
    assert result["engine"] == "eraser"
    shown = page.evaluate("() => window.nuTimes")  # "0.4s", or "queue: 1/1 | 0.0s" while queued
    times = [float(found.group(1)) for t in shown if (found := re.search(r"([\d.]+)s$", t))]
    # It counts: several values. (Each progress report from Novita restarts it, so how high it gets depends
    # on the machine's pace; a frozen timer shows one value.)
    assert len(set(times)) >= 3 and max(times) > 0, f"the job's timer did not count: {shown}"


# Every WebGL frame drawn (a clear of the drawing buffer), by canvas: the visible editor's, or the hidden
# crop editor's; with the visible editor's countdown to sleep (render_idle_remaining) at that moment.
_COUNT_DRAWN = """(() => {
  window.nuDrawn = [];
  for (const C of [WebGLRenderingContext, WebGL2RenderingContext]) {
    const clear = C.prototype.clear;
    C.prototype.clear = function (...args) {
      const crop = !!this.canvas?.closest?.('.pixi-target-crop');
      window.nuDrawn.push([performance.now(), crop, window.editor?.render_idle_remaining ?? null]);
      return clear.apply(this, args);
    };
  }
})();"""


def _frames(clears: list[float]) -> list[float]:
    """Clears less than 5 ms apart are one frame (or one burst of drawing into textures)."""
    return [t for i, t in enumerate(clears) if i == 0 or t - clears[i - 1] >= 5]


def test_a_photo_is_drawn_once_by_the_visible_editor_and_a_still_canvas_slowly(keyless_app, page, photos):
    """Gradio's ImageEditor keeps a second, invisible editor for its crop tool (this app has none): it loaded
    every photo and drew as many frames as the visible one, each ~40 ms of CPU without a GPU. And the visible
    editor drew 60 frames a second for 500 ms after each wake-up, long after the canvas had stopped changing.
    Now the hidden crop editor's ticker waits until the crop tool shows (never, here), and the still canvas is
    drawn about 15 times a second past the first 150 ms; the photo and the strokes still show at once."""
    page.add_init_script(_COUNT_DRAWN)
    page.goto(keyless_app.url)
    wait_app_ready(page)
    page.wait_for_function(_EDITOR_IDLE)
    page.evaluate("() => { window.nuDrawn = []; }")
    drop_file(page, photos["scene"])
    wait_editor_ready(page)
    page.wait_for_function(_EDITOR_IDLE)  # the drop's frames are over
    drawn = page.evaluate("() => window.nuDrawn")
    visible = _frames([t for t, crop, _ in drawn if not crop])
    crop_frames = _frames([t for t, crop, _ in drawn if crop])
    assert visible, "the visible editor drew nothing for a new photo"
    # The photo's arrival draws its layers and tools into textures (a few bursts, not frames of the ticker);
    # nothing else. (Before: 12 frames here, against the visible editor's 17.)
    assert len(crop_frames) <= 3, (
        f"the hidden crop editor drew {len(crop_frames)} frames while the editor drew {len(visible)}"
    )
    # The countdown's tail (more than 150 ms since the last wake-up): each frame waits 50 ms to be asked for.
    # (Without that wait, frames came 38-48 ms apart here: as fast as SwiftShader drew them.)
    tail = _frames([t for t, crop, left in drawn if not crop and left is not None and 0 <= left < 340])
    gaps = [b - a for a, b in itertools.pairwise(tail)]
    assert gaps and min(gaps) >= 49, f"a still canvas is drawn {gaps} ms apart"
    # Nothing was left undrawn: the photo shows (the garden's sky at the top, its red ball in the middle),
    # read once, with no pointer event since the drop to wake the editor.
    assert _pixel(page, *_on_screen(page, 0.5, 0.05))[2] > 150, "the sky is not drawn"
    assert _pixel(page, *_on_screen(page, BALL[0], BALL[1]))[0] > 150, "the ball is not drawn"
    before = _pixel(page, *_on_screen(page, 0.3, 0.8))
    paint_stroke(page, (0.25, 0.8), (0.35, 0.8))
    page.wait_for_function(_EDITOR_IDLE)
    assert not _near(_pixel(page, *_on_screen(page, 0.3, 0.8)), before), "the stroke was not drawn"
