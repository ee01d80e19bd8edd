"""Issue 5's user scenarios in a real browser: what a user sees on screen and gets in the downloaded file.

Each test is one scenario (test_scenario_N_...). Photos are made in code; the apps, the fake Novita server and
Chromium are shared for the session (conftest.py). Screenshots: test-output/screenshots/scenario-N-*.png.
Scenario 7 writes its Remove-to-result time to test-output/browser-timings.json (no assertion on it: the
target lives in benchmarks/bench_browser.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser.helpers import (
    POLL_MS,
    ROOT,
    choose_engine,
    choose_format,
    click_remove,
    download,
    drop_file,
    paint_stroke,
    photo_info,
    set_prompt,
    shot,
    toasts,
    upload_by_input,
    wait_app_ready,
    wait_editor_ready,
    wait_result,
    wait_status,
    wait_toast,
)
from tests.fake_novita import FILL, TEST_KEY, Fault, TaskPlan, central_box
from tests.images import decode, encode, photo_like

TIMINGS = ROOT / "test-output" / "browser-timings.json"
ERASER = "/v3/async/image-eraser"
JPEG_TOLERANCE = 40  # a FILL pixel after lossy re-encoding is still within this of FILL, per channel

Points = list[tuple[float, float]]


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Photos made in code: an 800 x 600 JPEG, a 9000 px wide JPEG, and a text file posing as a photo."""
    folder = tmp_path_factory.mktemp("scenario-files")
    made = {
        "photo": ("street.jpg", encode(photo_like(800, 600, seed=21))),
        "wide": ("panorama.jpg", encode(photo_like(9000, 1000, seed=22))),
        "text": ("notes.txt", b"shopping list: milk, eggs, bread\n" * 20),
    }
    paths = {}
    for key, (name, data) in made.items():
        path = folder / name
        path.write_bytes(data)
        paths[key] = path
    return paths


def _pixels(path_or_data: Path | bytes) -> tuple[str, np.ndarray]:
    """(format, RGB as int) of a file or downloaded bytes."""
    data = path_or_data.read_bytes() if isinstance(path_or_data, Path) else path_or_data
    fmt, rgb = decode(data)
    return fmt, rgb.astype(int)


def _is_fill(pixels: np.ndarray, points: Points, tolerance: int = JPEG_TOLERANCE) -> list[bool]:
    """Whether the fake model's FILL colour is at each (x, y) original-image point."""
    fill = np.array(FILL)
    return [bool(np.abs(pixels[int(y), int(x)] - fill).max() <= tolerance) for x, y in points]


def _open(page: Any, url: str) -> None:
    page.goto(url)
    wait_app_ready(page)


def _stroke(page: Any, start: tuple[float, float], end: tuple[float, float]) -> Points:
    """One straight brush stroke: the brush draws the whole segment from a single move."""
    return paint_stroke(page, start, end)


def _record_statuses(page: Any) -> None:
    """Keep every text #status shows (a queued/processing line may last well under a second)."""
    page.evaluate(
        """() => { window.__nuStatuses = [];
            const note = () => { const t = document.querySelector('#status')?.innerText || '';
                                 if (window.__nuStatuses.at(-1) !== t) window.__nuStatuses.push(t); };
            new MutationObserver(note).observe(document.body,
                {childList: true, subtree: true, characterData: true}); }"""
    )


def _wait_status_seen(page: Any, pattern: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "(p) => (window.__nuStatuses || []).some((t) => new RegExp(p).test(t))",
        arg=pattern,
        polling=POLL_MS,
        timeout=timeout,
    )


# ---- 1 -----------------------------------------------------------------------------------------------------


def test_scenario_1_dropped_jpeg_offline_png_changes_only_the_stroke(keyless_app, page, files):
    _open(page, keyless_app.url)
    drop_file(page, files["photo"])
    info = wait_editor_ready(page)
    assert info["name"] == "street.jpg" and info["size"] == [800, 600]
    points = _stroke(page, (0.3, 0.5), (0.7, 0.5))
    choose_engine(page, "Offline")
    choose_format(page, "png")
    click_remove(page)
    result = wait_result(page)
    shot(page, "scenario-1-result")
    assert result["engine"] == "local" and result["format"] == "png"
    name, data = download(page)
    fmt, out = _pixels(data)
    _, original = _pixels(files["photo"])
    assert name == "street-cleaned.png" and fmt == "PNG" and out.shape == original.shape == (600, 800, 3)
    changed = np.abs(out - original).max(axis=2) > 0
    hits = sum(changed[int(y), int(x)] for x, y in points)
    assert hits >= len(points) - 1, f"only {hits}/{len(points)} points under the stroke changed"
    far = np.ones_like(changed)
    far[220:380, 200:600] = False  # the stroke (y = 300, x 240-560) plus a generous margin for the brush
    assert not changed[far].any(), "pixels far from the stroke changed"
    wait_status(page, "Done")  # the status line may re-render after the result
    assert not toasts(page)


# ---- 2 -----------------------------------------------------------------------------------------------------


def test_scenario_2_click_upload_eraser_webp_shows_progress(keyed_app, fake_novita, page, files):
    _open(page, keyed_app.url)
    upload_by_input(page, files["photo"])
    wait_editor_ready(page)
    points = _stroke(page, (0.25, 0.3), (0.6, 0.3))
    choose_engine(page, "Novita Eraser")
    choose_format(page, "webp")
    # One QUEUED poll, one PROCESSING poll (50 %), then done: about 2.5 s with 0.3 s per answer.
    fake_novita.task_plan = TaskPlan(queued_polls=1, processing_polls=1)
    fake_novita.latency = 0.3
    _record_statuses(page)
    click_remove(page)
    _wait_status_seen(page, r"Queued at Novita.*task")
    _wait_status_seen(page, r"Processing at Novita: \d+ %")
    result = wait_result(page)
    shot(page, "scenario-2-result")
    seen = page.evaluate("() => window.__nuStatuses")
    assert any("Processing at Novita: 50 %" in t for t in seen), seen
    assert result["engine"] == "eraser" and result["task_id"] in fake_novita.tasks
    name, data = download(page)
    fmt, out = _pixels(data)
    assert name == "street-cleaned.webp" and fmt == "WEBP" and out.shape == (600, 800, 3)
    assert sum(_is_fill(out, points)) >= len(points) - 1
    (submit,) = fake_novita.requests_to(ERASER)
    mask = submit.extras["mask"]
    assert mask is not None and mask.shape == (600, 800)
    assert set(np.unique(mask).tolist()) == {0, 255}, "the mask sent to Novita is not binary"
    assert all(mask[int(y), int(x)] == 255 for x, y in points)
    assert mask[500:].max() == 0  # nothing painted in the lower part
    assert fake_novita.keys_seen and set(fake_novita.keys_seen) == {TEST_KEY}
    assert not toasts(page)


# ---- 3 -----------------------------------------------------------------------------------------------------


def test_scenario_3_prompt_only_eraser_works_and_offline_says_why_not(keyed_app, fake_novita, page, files):
    _open(page, keyed_app.url)
    drop_file(page, files["photo"])
    wait_editor_ready(page)
    choose_engine(page, "Novita Eraser")
    choose_format(page, "png")
    set_prompt(page, "lamp post")
    click_remove(page)
    result = wait_result(page)
    shot(page, "scenario-3-prompt-result")
    assert result["engine"] == "eraser"
    (submit,) = fake_novita.requests_to(ERASER)
    assert submit.extras["prompt"] == "lamp post" and submit.extras["mask"] is None
    fmt, out = _pixels(download(page)[1])
    _, original = _pixels(files["photo"])
    left, top, right, bottom = central_box(800, 600)
    assert fmt == "PNG" and out.shape == (600, 800, 3)
    assert (out[top + 10 : bottom - 10, left + 10 : right - 10] == np.array(FILL)).all(), "centre not erased"
    assert (out[:100, :100] == original[:100, :100]).all(), "a corner changed"
    choose_engine(page, "Offline")
    click_remove(page)
    message = wait_toast(page, "Paint over")
    shot(page, "scenario-3-offline-prompt-error")
    assert "Offline" in message and "Novita Eraser" in message
    assert "Not removed" in wait_status(page, "Not removed")  # the toast can come first
    assert len(fake_novita.requests_to(ERASER)) == 1  # nothing more went to Novita


# ---- 4 -----------------------------------------------------------------------------------------------------


def test_scenario_4_cleanup_jpeg_then_keep_editing_builds_on_the_result(keyed_app, fake_novita, page, files):
    _open(page, keyed_app.url)
    drop_file(page, files["photo"])
    first_info = wait_editor_ready(page)
    first_points = _stroke(page, (0.2, 0.25), (0.5, 0.25))
    choose_engine(page, "Novita Cleanup")
    choose_format(page, "jpeg")
    click_remove(page)
    first = wait_result(page)
    name, data = download(page)
    fmt, out1 = _pixels(data)
    assert name == "street-cleaned.jpg" and fmt == "JPEG" and out1.shape == (600, 800, 3)
    assert first["engine"] == "cleanup" and all(_is_fill(out1, first_points))
    page.click("#keep-editing")
    second_info = wait_editor_ready(page, previous=first_info)
    assert second_info["size"] == [800, 600]
    second_points = _stroke(page, (0.5, 0.75), (0.8, 0.75))
    click_remove(page)
    second = wait_result(page, previous=first)
    shot(page, "scenario-4-second-result", full_page=True)
    fmt, out2 = _pixels(download(page)[1])
    assert fmt == "JPEG" and out2.shape == (600, 800, 3) and second["engine"] == "cleanup"
    assert all(_is_fill(out2, first_points)), "the first removal is gone from the second result"
    assert all(_is_fill(out2, second_points)), "the second stroke was not removed"
    assert not any(_is_fill(out1, second_points))  # ...and it was not FILL before
    page.wait_for_function("() => document.querySelectorAll('#history .thumbnail-item').length === 2")
    assert len(fake_novita.requests_to("/v3/cleanup")) == 2


# ---- 5 -----------------------------------------------------------------------------------------------------


def test_scenario_5_no_key_typed_key_works_and_is_not_kept(keyless_app, fake_novita, page, files):
    _open(page, keyless_app.url)
    choose_engine(page, "Novita Eraser")
    page.wait_for_function(
        "() => /needs a Novita API key/.test(document.querySelector('#engine-note')?.innerText || '')"
    )
    drop_file(page, files["photo"])
    wait_editor_ready(page)
    set_prompt(page, "car")
    click_remove(page)
    message = wait_toast(page, "API key")
    shot(page, "scenario-5-no-key")
    assert "type it in" in message and "Offline" in message and "NOVITA_API_KEY" not in message
    assert fake_novita.requests == []  # nothing went to Novita without a key
    # Pasted, as the note suggests (an input event without key presses), into the password field.
    assert page.get_attribute("#api-key input", "type") == "password"
    page.click("#api-key input")
    page.keyboard.insert_text(TEST_KEY)
    page.wait_for_function(
        "() => !/needs a Novita API key/.test(document.querySelector('#engine-note')?.innerText || '')"
    )
    click_remove(page)
    result = wait_result(page)
    assert result["engine"] == "eraser" and fake_novita.keys_seen == [TEST_KEY] * len(fake_novita.keys_seen)
    assert fake_novita.keys_seen
    page.reload()
    wait_app_ready(page)
    assert page.input_value("#api-key input") == ""
    stored = page.evaluate(
        """() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage),
                                 document.cookie])"""
    )
    assert TEST_KEY not in stored
    assert TEST_KEY not in json.dumps(page.context.cookies())
    assert TEST_KEY not in page.content()


# ---- 6 -----------------------------------------------------------------------------------------------------


def test_scenario_6_novita_errors_are_readable_toasts(keyed_app, fake_novita, page, files):
    _open(page, keyed_app.url)
    drop_file(page, files["photo"])
    wait_editor_ready(page)
    choose_engine(page, "Novita Eraser")
    set_prompt(page, "bicycle")
    # 403: the key is wrong.
    fake_novita.fail_next("eraser", Fault.status(403, reason="INVALID_API_KEY"))
    click_remove(page)
    message = wait_toast(page, "INVALID_API_KEY")
    assert "API key" in message and TEST_KEY not in message
    # 429 on every attempt (Retry-After: 0, so the retries cost no time).
    fake_novita.clear()
    attempts = 4  # Settings.max_attempts: app.py's env sets no other
    fake_novita.fail_next("eraser", *[Fault.status(429, retry_after="0")] * attempts)
    _record_statuses(page)
    click_remove(page)
    # Each retry is told while it waits (issue 12).
    _wait_status_seen(page, r"rate limit was reached \(429\); trying again in .*, attempt 2 of 4")
    message = wait_toast(page, "rate limit")
    assert "try again" in message.lower()
    assert len(fake_novita.requests_to(ERASER)) == attempts and fake_novita.pending_faults("eraser") == 0
    # The task fails at Novita: the toast names the task and the reason.
    fake_novita.task_plan = TaskPlan(fail_reason="IMAGE_CONTENT_POLICY_VIOLATION")
    click_remove(page)
    message = wait_toast(page, "IMAGE_CONTENT_POLICY_VIOLATION")
    shot(page, "scenario-6-task-failed")
    (task_id,) = fake_novita.tasks
    assert task_id in message
    assert "Not removed" in wait_status(page, "Not removed")  # the toast can come first
    assert photo_info(page)["name"] == "street.jpg"  # the photo is still there to try again


def test_scenario_6_bad_and_huge_files_are_handled(keyed_app, fake_novita, page, files):
    _open(page, keyed_app.url)
    drop_file(page, files["text"])
    message = wait_toast(page, "could not be read as an image")
    shot(page, "scenario-6-not-an-image")
    assert "JPEG" in message
    page.wait_for_selector("#editor.nu-loading", state="detached")  # the "Loading photo" overlay went away
    assert photo_info(page) == {}
    # 9000 px wide: beyond the browser's 8192 px texture limit, yet the user paints on a bounded canvas.
    drop_file(page, files["wide"])
    info = wait_editor_ready(page)
    assert info["size"] == [9000, 1000] and max(info["preview"]) <= 2048
    choose_engine(page, "Novita Eraser")
    set_prompt(page, "fence")
    click_remove(page)
    result = wait_result(page, timeout=90_000)
    shot(page, "scenario-6-wide-result")
    assert result["size"] == [9000, 1000]
    fmt, out = _pixels(download(page)[1])
    _, original = _pixels(files["wide"])
    assert fmt == "JPEG" and out.shape == (1000, 9000, 3)
    assert out.mean() > 40, "the result is black"
    # Past x = 8192 (where a WebGL texture would have been cut off) the photo is still the photo.
    assert np.abs(out[:, 8300:] - original[:, 8300:]).mean() < 4
    left, top, right, bottom = central_box(9000, 1000)
    centre = out[top + 20 : bottom - 20, left + 20 : right - 20]
    assert np.abs(centre - np.array(FILL)).max() <= JPEG_TOLERANCE


# ---- 7 -----------------------------------------------------------------------------------------------------


def test_scenario_7_a_12mp_jpeg_end_to_end(keyed_app, fake_novita, page, photos):
    _open(page, keyed_app.url)
    drop_file(page, photos["photo12"])
    info = wait_editor_ready(page)
    assert info["size"] == [4000, 3000]
    points = _stroke(page, (0.3, 0.6), (0.7, 0.6))
    choose_engine(page, "Novita Eraser")
    choose_format(page, "jpeg")
    started = time.perf_counter()
    click_remove(page)
    result = wait_result(page, timeout=120_000)
    seconds = time.perf_counter() - started
    shot(page, "scenario-7-12mp-result")
    _write_timing(
        "scenario_7_12mp_remove_to_result",
        {
            "engine": "Novita Eraser (fake server, no latency)",
            "size": result["size"],
            "remove_to_result_s": round(seconds, 2),
            "server_s": result["seconds"],
        },
    )
    name, data = download(page, timeout=60_000)
    fmt, out = _pixels(data)
    assert name == "holiday-cleaned.jpg" and fmt == "JPEG" and out.shape == (3000, 4000, 3)
    assert sum(_is_fill(out, points)) >= len(points) - 1
    (submit,) = fake_novita.requests_to(ERASER)
    assert submit.extras["image_size"] == (4000, 3000)  # Novita got the full-resolution photo


def _write_timing(name: str, value: dict[str, Any]) -> None:
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    try:
        timings = json.loads(TIMINGS.read_text())
    except (OSError, ValueError):
        timings = {}
    timings[name] = {**value, "recorded": time.strftime("%Y-%m-%dT%H:%M:%S")}
    TIMINGS.write_text(json.dumps(timings, indent=2) + "\n")


# ---- 8 -----------------------------------------------------------------------------------------------------


def test_scenario_8_phone_upload_stroke_result(keyless_app, phone_page, files):
    page = phone_page
    _open(page, keyless_app.url)
    upload_by_input(page, files["photo"])
    wait_editor_ready(page)
    points = _stroke(page, (0.3, 0.6), (0.7, 0.6))
    shot(page, "scenario-8-phone-stroke")
    click_remove(page)
    result = wait_result(page)
    # The result panel is below the editor on a phone: once the page stops scrolling, it is on screen.
    page.wait_for_function(
        """() => { const top = document.querySelector('#result-slider').getBoundingClientRect().top;
                   const now = performance.now();
                   if (window.__nuTop !== top) { window.__nuTop = top; window.__nuTopAt = now; return false; }
                   return now - window.__nuTopAt > 300 && top >= -1 && top <= window.innerHeight - 120; }""",
        polling=100,
    )
    shot(page, "scenario-8-phone-result")
    assert result["engine"] == "local" and result["size"] == [800, 600]
    fmt, out = _pixels(download(page)[1])
    _, original = _pixels(files["photo"])
    assert fmt == "JPEG" and out.shape == (600, 800, 3)
    changed = np.abs(out - original).max(axis=2) > 24
    assert sum(changed[int(y), int(x)] for x, y in points) >= len(points) // 2
    assert not toasts(page)
