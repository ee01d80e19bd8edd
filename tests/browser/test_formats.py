"""A phone's HEIC photo in a real Chromium, which cannot draw HEIC itself: the editor still shows it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tests.browser.conftest import BALL, scene
from tests.browser.helpers import (
    EDITOR_CANVAS,
    choose_engine,
    click_remove,
    download,
    drop_file,
    image_rect,
    paint_stroke,
    shot,
    status_text,
    wait_app_ready,
    wait_editor_ready,
    wait_result,
)
from tests.images import phone_photo


def test_a_dropped_heic_photo_is_shown_upright_painted_and_returned_as_jpeg(keyless_app, page, tmp_path):
    # Stored sideways as a phone does (the garden turned anticlockwise, EXIF orientation 6: turn it back).
    upright = scene(800, 600)
    heic = tmp_path / "IMG_0042.HEIC"
    heic.write_bytes(phone_photo(np.ascontiguousarray(np.rot90(upright, 1)), "HEIF", orientation=6))
    page.goto(keyless_app.url)
    wait_app_ready(page)
    drop_file(page, heic)
    info = wait_editor_ready(page)
    assert info["name"] == "IMG_0042.HEIC" and info["size"] == [800, 600]
    assert "IMG_0042.HEIC" in status_text(page) and "ready" in status_text(page)
    assert "HEIC or AVIF photo comes back as JPEG" in page.inner_text("#format")
    shot(page, "heic-dropped")
    # What Chromium painted: the red ball where the upright photo has it (the server's JPEG working copy).
    left, top, zoom = image_rect(page)
    (pw, ph) = info["preview"]
    bx, by = left + BALL[0] * pw * zoom, top + BALL[1] * ph * zoom
    box = page.locator(EDITOR_CANVAS).bounding_box()
    screen = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB")).astype(int)
    ball = screen[int(by), int(bx)]
    sky = screen[int(top + 0.1 * ph * zoom), int(left + 0.5 * pw * zoom)]
    assert box and ball[0] > 150 and ball[1] < 90 and ball[2] < 90, ball  # red, not a blank canvas
    assert sky[2] > 180 and sky[0] < 190, sky  # blue sky on top: upright, not sideways
    choose_engine(page, "Offline")
    radius = BALL[2] * 800 / 600
    paint_stroke(page, (BALL[0] - BALL[2], BALL[1]), (BALL[0] + BALL[2], BALL[1] + radius / 4))
    click_remove(page)
    result = wait_result(page)
    shot(page, "heic-result", full_page=True)
    assert result["size"] == [800, 600]
    name, data = download(page)
    assert Path(name).name == "IMG_0042-cleaned.jpg"  # a HEIC photo comes back as JPEG by default
    out = Image.open(io.BytesIO(data))
    assert out.format == "JPEG" and out.size == (800, 600)
    assert out.getexif().get(0x010F) == "TestPhone"  # the phone's EXIF kept
