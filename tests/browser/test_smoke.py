"""Smoke scenarios in a real browser: the main paths work and look right (screenshots in test-output/)."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import numpy as np
from PIL import Image

from tests.browser.conftest import BALL
from tests.browser.helpers import (
    POLL_MS,
    choose_engine,
    choose_format,
    click_remove,
    download,
    drop_file,
    paint_stroke,
    paste_file,
    set_api_key,
    set_grow,
    set_prompt,
    shot,
    status_text,
    toasts,
    track_uploads,
    upload_by_input,
    uploaded,
    wait_app_ready,
    wait_editor_ready,
    wait_result,
    wait_status,
    wait_toast,
)
from tests.fake_novita import FILL, TaskPlan


def _decode(data: bytes) -> tuple[str, np.ndarray]:
    image = Image.open(io.BytesIO(data))
    return image.format or "", np.asarray(image.convert("RGB")).astype(int)


def test_empty_app_offers_offline_without_a_key(keyless_app, page, phone_page):
    page.goto(keyless_app.url)
    wait_app_ready(page)
    assert page.is_checked('#engine input[value="Offline"]')
    assert page.get_attribute("#api-key input", "type") == "password"
    assert "Drop a photo" in page.inner_text("#editor")
    shot(page, "desktop-empty")
    choose_engine(page, "Novita Cleanup")
    note = page.inner_text("#engine-note")
    assert "needs a Novita API key" in note and "novita.ai" in note
    phone_page.goto(keyless_app.url)
    wait_app_ready(phone_page)
    shot(phone_page, "phone-empty", full_page=True)


def test_dropped_12mp_photo_is_painted_small_and_returned_full_size(keyless_app, page, photos):
    track_uploads(page)
    page.goto(keyless_app.url)
    wait_app_ready(page)
    drop_file(page, photos["photo12"])
    info = wait_editor_ready(page)
    original_size = photos["photo12"].stat().st_size
    assert uploaded(page) == [original_size]  # the photo went up once, byte for byte
    assert info["size"] == [4000, 3000] and max(info["preview"]) <= 2048
    points = paint_stroke(page, (0.3, 0.5), (0.7, 0.5))
    shot(page, "desktop-stroke")
    choose_format(page, "png")
    click_remove(page)
    result = wait_result(page)
    shot(page, "desktop-result", full_page=True)
    assert result["engine"] == "local" and result["size"] == [4000, 3000]
    name, data = download(page)
    assert name == "holiday-cleaned.png"
    fmt, out = _decode(data)
    _, original = _decode(photos["photo12"].read_bytes())
    assert fmt == "PNG" and out.shape == (3000, 4000, 3)
    changed = np.abs(out - original).max(axis=2) > 0
    hits = sum(changed[int(y), int(x)] for x, y in points)
    assert hits >= len(points) - 1, f"only {hits}/{len(points)} painted points changed"
    assert not changed[:600].any() and not changed[2400:].any(), "pixels far from the stroke changed"
    # Remove uploads no file: the strokes and a small canvas print travel in the job itself, where the
    # editor's own export would upload the photo twice more as PNGs (~35 MB at full size).
    assert uploaded(page)[1:] == [], uploaded(page)


def test_click_upload_applies_exif_orientation_and_paste_replaces_the_photo(keyless_app, page, photos):
    page.goto(keyless_app.url)
    wait_app_ready(page)
    upload_by_input(page, photos["rotated"])
    first = wait_editor_ready(page)
    assert first["size"] == [300, 400]  # stored 400 x 300 with EXIF orientation 6
    paste_file(page, photos["small"])
    second = wait_editor_ready(page, previous=first)
    assert second["name"] == "small.jpg" and second["size"] == [640, 480]


def test_remove_without_a_mask_says_what_to_do(keyless_app, page, photos):
    page.goto(keyless_app.url)
    wait_app_ready(page)
    assert not page.is_enabled("#remove") and "Drop a photo" in status_text(page)  # nothing to remove yet
    drop_file(page, photos["small"])
    wait_editor_ready(page)
    click_remove(page)
    message = wait_toast(page, "Paint over")
    shot(page, "desktop-error-toast")
    assert "Paint over what should go with the pink brush" in message
    wait_status(page, "Paint over what should go with the pink brush")  # it may render after the toast


def test_novita_eraser_by_prompt_with_the_users_key(keyed_app, fake_novita, page, photos):
    page.goto(keyed_app.url)
    wait_app_ready(page)
    assert page.is_checked('#engine input[value="Novita Eraser"]')
    drop_file(page, photos["small"])
    wait_editor_ready(page)
    set_prompt(page, "dog")
    set_api_key(page, "sk_user_key")  # not valid at the fake: the user's key must be the one used
    click_remove(page)
    message = wait_toast(page, "rejected")
    assert "sk_user_key" not in message and fake_novita.keys_seen == ["sk_user_key"]
    set_api_key(page, "")
    fake_novita.task_plan = TaskPlan(never_finish=True)  # PROCESSING at 50 % until finish_tasks()
    click_remove(page)
    page.wait_for_function(
        "() => /Processing at Novita: \\d+ %.*task/.test(document.querySelector('#status')?.innerText || '')",
        polling=POLL_MS,
    )
    fake_novita.finish_tasks()
    result = wait_result(page)
    assert result["engine"] == "eraser" and result["task_id"] in fake_novita.tasks
    assert "sk_test_key" in fake_novita.keys_seen  # the server's key, once the user's field is empty
    fetched = fake_novita.requests_to("/results/")
    assert fetched, "the result never came from the object store: the check below would pass on nothing"
    assert all("authorization" not in r.headers for r in fetched)
    name, data = download(page)
    fmt, out = _decode(data)
    assert name == "small-cleaned.jpg" and fmt == "JPEG" and out.shape == (480, 640, 3)
    assert np.abs(out[240, 320] - np.array(FILL)).max() < 40  # the fake erases the middle for a prompt
    sidecar = json.loads((keyed_app.output_dir / "small-cleaned.jpg.json").read_text())
    assert sidecar["prompt"] == "dog" and sidecar["task_id"] == result["task_id"]
    assert "sk_user_key" not in json.dumps(sidecar) and "sk_test_key" not in json.dumps(sidecar)
    assert not [t for t in toasts(page) if "rejected" not in t]


def _red(pixels: np.ndarray) -> int:
    return int(((pixels[..., 0] > 170) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)).sum())


def _paint_over_ball(page: Any) -> None:
    """A zigzag of five brush passes across the ball, edge to edge: the default brush (18 canvas px) is
    thinner than it was, so four passes left the ball's rim unpainted."""
    cx, cy, r = BALL[0], BALL[1], BALL[2] * 4 / 3  # the radius as a fraction of the height (4:3 scene)
    left, right = cx - BALL[2] * 1.2, cx + BALL[2] * 1.2
    rows = [cy - r * 0.9 + i * (r * 1.8 / 4) for i in range(5)]
    zigzag = [p for i, y in enumerate(rows) for p in ((left, y), (right, y))[:: 1 if i % 2 == 0 else -1]]
    paint_stroke(page, *zigzag)


def test_the_ball_goes_away_on_desktop_and_phone(keyless_app, page, phone_page, photos):
    """What a user sees, start to finish (the screenshots in test-output/ are for people to look at)."""
    _, original = _decode(photos["scene"].read_bytes())
    for tab, name in ((page, "desktop"), (phone_page, "phone")):
        started = time.perf_counter()
        tab.goto(keyless_app.url)
        wait_app_ready(tab)
        drop_file(tab, photos["scene"])
        wait_editor_ready(tab)
        print(name, "loaded", round(time.perf_counter() - started, 1))
        _paint_over_ball(tab)
        print(name, "painted", round(time.perf_counter() - started, 1))
        shot(tab, f"{name}-stroke")
        set_grow(tab, 6)
        click_remove(tab)
        wait_result(tab)
        print(name, "result", round(time.perf_counter() - started, 1))
        shot(tab, f"{name}-result", full_page=True)
        print(name, "shot", round(time.perf_counter() - started, 1))
        _, out = _decode(download(tab)[1])
        assert _red(out) < _red(original) * 0.02, f"{name}: the red ball is still there"
        wait_status(tab, "Done")  # the status line may re-render after the result
        assert not toasts(tab)
        print(name, round(time.perf_counter() - started, 1))


def test_a_file_over_the_upload_limit_gets_a_message_not_a_spinner(page, photos, tmp_path, monkeypatch):
    from novita_ui.config import Settings
    from novita_ui.ui import Options
    from tests.apps import launched
    from tests.browser.helpers import photo_info

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    options = Options(max_file_size=200_000, scratch_dir=tmp_path / "scratch")
    with launched(Settings.load(env={}), options) as running:
        page.goto(running.url)
        wait_app_ready(page)
        drop_file(page, photos["photo12"])  # ~4 MB, twenty times the limit
        message = wait_toast(page, "exceed")
        assert "maximum allowed size" in message and "holiday.jpg" in message
        assert page.locator("#editor.nu-loading").count() == 0  # no "Loading photo..." left spinning
        assert photo_info(page) == {}
