"""The web app without a browser: helpers, spend guard, result saving, handlers called directly,
and the public API through gradio_client against a launched app and the fake Novita server."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from novita_ui.config import Settings
from novita_ui.errors import (
    AuthenticationError,
    BudgetExhaustedError,
    InputError,
    MissingAPIKeyError,
    TaskFailedError,
)
from novita_ui.novita.client import TaskProgress
from novita_ui.pixels import masks
from novita_ui.runtime import storage
from novita_ui.runtime.guard import SpendGuard
from novita_ui.service import RemoveRequest
from novita_ui.ui import (
    App,
    JobSpec,
    Options,
    Session,
    build_app,
    canvas_size,
    engine_note,
    engine_of,
    launch_kwargs,
    progress_text,
    queue_kwargs,
    user_message,
)
from novita_ui.ui.events.api import ApiEndpoints
from novita_ui.ui.events.photos import PhotoEvents
from novita_ui.ui.events.removal import RemovalEvents
from novita_ui.ui.server import gradio_seams
from novita_ui.ui.wiring import named
from tests.app_process import free_port
from tests.apps import launch, launched
from tests.conftest import fast_settings
from tests.fake_novita import FILL, TEST_KEY, TEXT_INK, FakeNovita, Fault
from tests.images import box_mask, decode, encode, jpeg_with_orientation, page_read, phone_photo, photo_like

# ---- helpers -----------------------------------------------------------------------------------------------


def test_canvas_is_bounded_keeps_the_aspect_and_enlarges_tiny_photos():
    assert canvas_size((4000, 3000), 1024) == (1024, 768)
    assert canvas_size((16384, 4000), 1024) == (1024, 250)
    assert canvas_size((300, 400), 1024) == (576, 768)  # small photos get a comfortable canvas
    assert canvas_size((1000, 800), 1024) == (1000, 800)


def test_progress_lines_say_queued_processing_percent_eta_and_task_id():
    assert (
        progress_text(TaskProgress("t-1", "queued", 0, 12)) == "Queued at Novita, about 12 s left (task t-1)"
    )
    line = progress_text(TaskProgress("t-1", "processing", 40, 3))
    assert line == "Processing at Novita: 40 %, about 3 s left (task t-1)"


def test_engine_labels_and_notes():
    assert engine_of("Novita Cleanup") == "cleanup" and engine_of("Offline") == "local"
    with pytest.raises(InputError, match="Unknown engine"):
        engine_of("GPU")
    note = engine_note("Novita Eraser", "", server_key=False)
    assert "needs a Novita API key" in note and "novita.ai/settings/key-management" in note
    assert "needs" not in engine_note("Novita Eraser", "sk_mine", server_key=False)
    assert "no key needed" in engine_note("Offline", "", server_key=False)


def test_a_failed_task_message_keeps_the_id_and_says_what_to_do():
    error = TaskFailedError("Novita task abc failed: NSFW", task_id="abc", reason="NSFW")
    text = user_message(error)
    assert "abc" in text and "NSFW" in text and "Try again" in text


# ---- spend guard -------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_guard_counts_a_sliding_hour_and_says_when_to_retry():
    clock = FakeClock()
    guard = SpendGuard(2, clock=clock)
    assert guard.try_acquire()
    clock.now += 600
    assert guard.try_acquire()
    assert not guard.try_acquire()
    assert "2 requests per hour" in guard.refusal() and "in about 50 min" in guard.refusal()
    clock.now += 2400
    assert not guard.try_acquire()
    clock.now += 600  # the first slot is an hour old now, the second is not
    assert guard.try_acquire() and guard.used() == 2
    assert not guard.try_acquire()
    guard.refund()
    assert guard.used() == 1


def test_guard_without_limit_never_refuses_and_zero_always_refuses():
    assert all(SpendGuard(None).try_acquire() for _ in range(1000))
    zero = SpendGuard(0)
    assert not zero.try_acquire() and "later" in zero.refusal()


def test_guard_is_exact_under_threads():
    guard = SpendGuard(50)
    granted: list[bool] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        granted.extend(ok for ok in (guard.try_acquire() for _ in range(20)) if ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 50


# ---- saving results ----------------------------------------------------------------------------------------


def test_saved_result_has_a_sidecar_without_the_key(tmp_path):
    made = storage.Made(
        engine="eraser",
        output_format="png",
        size=(40, 30),
        source_name="cat.jpg",
        prompt=" dog ",
        task_id="t-9",
        timings={"total_s": 1.5},
    )
    record = storage.result_record(made)
    path = storage.save_result(tmp_path, "cat-cleaned.png", b"PNGDATA", record)
    sidecar = json.loads(path.with_name("cat-cleaned.png.json").read_text())
    assert path.read_bytes() == b"PNGDATA"
    assert sidecar["engine"] == "eraser" and sidecar["prompt"] == "dog" and sidecar["task_id"] == "t-9"
    assert sidecar["size"] == {"width": 40, "height": 30} and sidecar["source_name"] == "cat.jpg"
    assert sidecar["file"] == "cat-cleaned.png" and sidecar["created"].endswith("+00:00")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_concurrent_saves_of_one_name_never_overwrite_each_other(tmp_path):
    def save(i: int) -> Path:
        return storage.save_result(tmp_path, "a-cleaned.jpg", f"result {i}".encode(), {"i": i})

    threads_out: list[Path] = []
    workers = [threading.Thread(target=lambda i=i: threads_out.append(save(i))) for i in range(12)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(set(threads_out)) == 12
    assert sorted(p.read_bytes() for p in threads_out) == sorted(f"result {i}".encode() for i in range(12))


def test_scratch_space_forgets_idle_sessions(tmp_path):
    clock = FakeClock()
    clock.now = time.time()  # file times are real times
    scratch = storage.ScratchSpace(tmp_path / "scratch", max_age=3600, clock=clock)
    old = scratch.new_file("tab-1", "photo.jpg")
    old.write_bytes(b"1")
    scratch.discard("tab-1")
    assert not old.exists()
    kept = scratch.new_file("tab-2", "photo.jpg")
    kept.write_bytes(b"2")
    stale = scratch.folder("api-x")
    os.utime(stale, (clock.now - 7200, clock.now - 7200))
    clock.now += 1000  # more than max_age / 4 since the last sweep: the next new file sweeps
    scratch.new_file("tab-2", "other.jpg")
    assert kept.exists() and not stale.exists()


# ---- handlers, called directly -----------------------------------------------------------------------------


def _request(session: str = "s1") -> gr.Request:
    return gr.Request(session_hash=session)


def _no_progress(*args: Any, **kwargs: Any) -> None:
    return None


def _layer_png(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    """An editor stroke layer: transparent, with an opaque box where the user painted."""
    rgba = np.zeros((size[1], size[0], 4), np.uint8)
    x0, y0, x1, y1 = box
    rgba[y0:y1, x0:x1] = (255, 59, 48, 255)
    return encode(rgba, "PNG")


@pytest.fixture
def keyless_app(tmp_path: Path) -> Iterator[App]:
    app = App(Settings.load(env={}), Options(scratch_dir=tmp_path / "scratch", output_dir=tmp_path / "out"))
    yield app
    asyncio.run(app.aclose())


async def _drain(agen: Any) -> list[dict[str, Any]]:
    return [item async for item in agen]


def _load(
    app: App, path: Path, tab: str = "s1", session: Session | None = None
) -> tuple[dict[str, Any], Session]:
    """Load a photo into a tab's session (a new one unless given): the page changes and the session."""
    session = session or Session()
    changes = asyncio.run(app.photos.load_photo(str(path), session, _request(tab)))
    return changes, session


def _painted(app: App, tmp_path: Path, size: tuple[int, int]) -> tuple[Session, Path]:
    """A photo of ``size`` loaded into a new session, and a stroke layer over a small box of its canvas."""
    photo = tmp_path / "p.jpg"
    photo.write_bytes(encode(photo_like(*size)))
    _, session = _load(app, photo)
    assert session.photo is not None
    layer = tmp_path / "layer_0.png"
    layer.write_bytes(_layer_png(session.photo.preview_size, (10, 10, 50, 50)))
    return session, layer


_JOBS = iter(range(10**6))


def _job(session: Session, engine: str = "Offline", *, prompt: str = "", fmt: str = "png") -> dict[str, Any]:
    """A job as the page script sends it (page.GATHER_JS), for the session's current photo."""
    version = session.photo.version if session.photo else None
    return {
        "id": f"j{next(_JOBS)}",
        "engine": engine,
        "format": fmt,
        "grow": 0,
        "prompt": prompt,
        "photo": version,
        "after": session.started,  # the page has seen every earlier job end
    }


def _remove(
    app: App,
    session: Session,
    layer: Path | None,
    engine: str = "Offline",
    *,
    prompt: str = "",
    fmt: str = "png",
    api_key: str = "",
    canvas: str | None = None,
) -> list[dict[str, Any]]:
    """Press Remove: the changes the page gets, in order."""
    shown = canvas or (str(session.photo.shown) if session.photo else None)
    job = {**_job(session, engine, prompt=prompt, fmt=fmt), **page_read([layer] if layer else [], shown)}
    agen = app.removal.run(job, api_key, session, _no_progress)  # type: ignore[arg-type]  # gr.Progress
    return asyncio.run(_drain(agen))


def test_loading_keeps_the_original_and_gives_the_editor_an_upright_bounded_preview(keyless_app, tmp_path):
    photo = tmp_path / "tall.jpg"
    photo.write_bytes(jpeg_with_orientation(photo_like(3000, 2000), 6))  # shown 2000 x 3000
    changes, session = _load(keyless_app, photo)
    ws = session.photo
    assert ws is not None and ws.size == (2000, 3000) and ws.preview_size == (683, 1024)
    assert ws.original.read_bytes() == photo.read_bytes()  # the user's bytes, untouched
    value = changes["editor"]
    assert Image.open(value["background"]).size == (683, 1024) and value["layers"] == []
    assert "tall.jpg" in changes["status"] and "2000 × 3000" in changes["status"]
    assert json.loads(changes["photo_info"])["size"] == [2000, 3000]
    assert changes["remove"]["interactive"] is True


def test_loading_a_damaged_file_says_so(keyless_app, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(gr.Error, match="Use JPEG, PNG, WebP"):
        _load(keyless_app, bad)


def test_a_16384_px_panorama_loads_and_a_bigger_photo_gets_a_clear_message(keyless_app, tmp_path):
    wide = tmp_path / "panorama.jpg"
    wide.write_bytes(encode(photo_like(16384, 1024, seed=9)))
    _, session = _load(keyless_app, wide)
    assert session.photo is not None
    assert session.photo.size == (16384, 1024) and session.photo.preview_size == (1024, 64)
    huge = tmp_path / "huge.png"
    Image.new("1", (16384, 16384)).save(huge)  # 268 MP: tiny file, far too many pixels
    with pytest.raises(gr.Error, match="at most 100 megapixels"):
        _load(keyless_app, huge)


def test_offline_removal_maps_the_canvas_mask_to_the_full_size_original(keyless_app, tmp_path):
    photo = tmp_path / "street.jpg"
    photo.write_bytes(encode(photo_like(2560, 1920, seed=4)))
    _, session = _load(keyless_app, photo)
    ws = session.photo
    assert ws is not None and ws.preview_size == (1024, 768)  # the original is 2.5 times larger
    layer = tmp_path / "layer_0.png"
    layer.write_bytes(_layer_png(ws.preview_size, (480, 320, 560, 400)))
    final = _remove(keyless_app, session, layer)[-1]
    before, after = final["slider"]["value"]
    assert final["slider"]["slider_position"] < 0.1  # the handle at the left edge: the result shows whole
    outcome = session.current
    assert outcome is not None and outcome.file.name == "street-cleaned.png" and outcome.size == (2560, 1920)
    out = np.asarray(Image.open(outcome.file).convert("RGB")).astype(int)
    original = np.asarray(Image.open(photo).convert("RGB")).astype(int)
    changed = np.abs(out - original).max(axis=2) > 0
    assert changed[800:1000, 1200:1400].mean() > 0.5  # the painted box, scaled by 2.5
    assert not changed[:700].any() and not changed[1100:].any()
    assert Image.open(after).size == ws.preview_size and Image.open(before).size == ws.preview_size
    saved = tmp_path / "out" / "street-cleaned.png"
    assert saved.read_bytes() == outcome.file.read_bytes()
    assert json.loads(saved.with_name("street-cleaned.png.json").read_text())["engine"] == "local"
    assert "Done" in final["status"] and json.loads(final["result_info"])["size"] == [2560, 1920]
    assert final["remove"]["interactive"] is True and session.running is None


def test_keep_editing_makes_the_result_the_new_photo(keyless_app, tmp_path):
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(encode(photo_like(800, 600)))
    _, session = _load(keyless_app, photo)
    assert session.photo is not None
    layer = tmp_path / "layer_0.png"
    layer.write_bytes(_layer_png(session.photo.preview_size, (100, 100, 200, 200)))
    _remove(keyless_app, session, layer)
    outcome = session.current
    assert outcome is not None
    changes = keyless_app.photos.keep_editing(session)
    assert session.photo.original == outcome.file and session.photo.name == "cat.jpg"  # next: cat-cleaned too
    assert changes["editor"]["layers"] == [] and "Editing the result" in changes["status"]


@pytest.mark.parametrize(
    ("engine", "layer", "prompt", "expected"),
    [
        ("Offline", False, "", "Paint over what should go with the pink brush"),
        ("Offline", False, "dog", "Paint over what should go with the pink brush"),
        ("Novita Eraser", True, "", "type it in *Novita API key*"),
    ],
)
def test_removal_errors_are_user_messages_in_toast_and_status(
    keyless_app, tmp_path, engine, layer, prompt, expected
):
    session, layer_path = _painted(keyless_app, tmp_path, (640, 480))
    statuses: list[str] = []

    async def run() -> None:
        shown = str(session.photo.shown) if session.photo else None
        read = page_read([layer_path] if layer else [], shown)
        job = {**_job(session, engine, prompt=prompt, fmt="jpeg"), **read}
        async for update in keyless_app.removal.run(job, "", session, _no_progress):
            statuses.append(update.get("status", ""))

    # The status line shows Markdown; the toast the same words as HTML (gradio_seams.titled).
    with pytest.raises(gr.Error, match=re.escape(gradio_seams.markdown_to_html(expected))) as caught:
        asyncio.run(run())
    assert expected in statuses[-1] and "NOVITA_API_KEY" not in caught.value.message
    assert caught.value.message.startswith("<strong>")  # the specific title leads the toast's text
    assert session.running is None  # the next click can start a job


def test_remove_without_a_photo_says_how_to_add_one(keyless_app):
    with pytest.raises(gr.Error, match="Add a photo first"):
        _remove(keyless_app, Session(), None, canvas="")


def test_an_unexpected_failure_is_generic_and_logged_without_the_key(
    keyless_app, tmp_path, monkeypatch, caplog
):
    photo = tmp_path / "p.jpg"
    photo.write_bytes(encode(photo_like(64, 48)))
    _, session = _load(keyless_app, photo)

    async def boom(request: RemoveRequest, on_progress: Any = None, **_: Any) -> Any:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(keyless_app.service, "remove", boom)
    with pytest.raises(gr.Error) as caught:
        _remove(
            keyless_app, session, None, engine="Novita Eraser", prompt="dog", api_key="sk_secret_user_key"
        )
    assert (
        "Something unexpected went wrong" in caught.value.message and "database" not in caught.value.message
    )
    assert "database on fire" in caplog.text and "sk_secret_user_key" not in caplog.text


async def test_the_services_spend_guard_counts_requests_on_its_own_key_only(fake, tmp_path):
    """The guard lives in the service, so the page, the API, the CLI and batch share it."""
    app = App(fast_settings(fake.url, max_requests_per_hour=1), Options(scratch_dir=tmp_path))
    image, mask = encode(photo_like(64, 48)), box_mask(64, 48, (10, 10, 30, 30))
    try:
        await app.remove(RemoveRequest(engine="cleanup", image=image, mask=mask))
        with pytest.raises(BudgetExhaustedError, match="1 requests per hour"):
            await app.remove(RemoveRequest(engine="cleanup", image=image, mask=mask))
        with pytest.raises(AuthenticationError):  # a caller's own key: sent, and never counted
            await app.remove(RemoveRequest(engine="cleanup", image=image, mask=mask, api_key="sk_user"))
        await app.remove(RemoveRequest(engine="local", image=image, mask=mask))  # Offline costs nothing
    finally:
        await app.aclose()
    assert len(fake.requests_to("/v3/cleanup")) == 2 and app.service.guard.used() == 1


# ---- the launched app: public API through gradio_client ----------------------------------------------------


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeNovita]:
    with FakeNovita() as server:
        yield server


def _launch(settings: Settings, options: Options, **kwargs: Any) -> tuple[gr.Blocks, str]:
    """Kept for older tests: new ones use tests.apps.launch (a record with .demo and .url)."""
    running = launch(settings, options, **kwargs)
    return running.demo, running.url


@pytest.fixture(scope="module")
def keyed_server(
    fake_server: FakeNovita, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    out = tmp_path_factory.mktemp("api-results")
    demo, url = _launch(fast_settings(fake_server.url), Options(output_dir=out))
    yield url, out
    demo.close()


@pytest.fixture(scope="module")
def keyless_server(fake_server: FakeNovita) -> Iterator[str]:
    demo, url = _launch(fast_settings(fake_server.url, api_key=None), Options())
    yield url
    demo.close()


@pytest.fixture
def fake(fake_server: FakeNovita) -> Iterator[FakeNovita]:
    fake_server.reset()
    yield fake_server
    fake_server.reset()


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A 600 x 400 photo, a mask over (100, 100)-(200, 200), and an EXIF-rotated copy (stored 400 x 600)."""
    pixels = photo_like(600, 400, seed=7)
    photo, mask, rotated = tmp_path / "photo.jpg", tmp_path / "mask.png", tmp_path / "rotated.jpg"
    photo.write_bytes(encode(pixels))
    mask.write_bytes(encode(box_mask(600, 400, (100, 100, 200, 200)), "PNG"))
    # Stored turned 90 degrees clockwise, with orientation 8 (turn back): it displays as the 600 x 400 photo.
    rotated.write_bytes(jpeg_with_orientation(np.ascontiguousarray(np.rot90(pixels, -1)), 8))
    return photo, mask, rotated


def test_the_public_api_is_exactly_erase_cleanup_remove_text_local_select(keyed_server):
    url, _ = keyed_server
    api = Client(url, verbose=False).view_api(print_info=False, return_format="dict")
    assert sorted(api["named_endpoints"]) == ["/cleanup", "/erase", "/local", "/remove_text", "/select"]
    assert not api["unnamed_endpoints"]
    params = [p["parameter_name"] for p in api["named_endpoints"]["/erase"]["parameters"]]
    assert params == ["image", "mask", "prompt", "output_format", "api_key"]


def test_api_local_returns_the_input_size_in_the_requested_format(keyed_server, tmp_path):
    url, out = keyed_server
    photo, mask, _ = _files(tmp_path)
    result = Client(url, verbose=False).predict(
        handle_file(photo), handle_file(mask), "png", api_name="/local"
    )
    fmt, pixels = decode(Path(result).read_bytes())
    assert Path(result).name == "photo-cleaned.png" and fmt == "PNG" and pixels.shape == (400, 600, 3)
    original = decode(photo.read_bytes())[1].astype(int)
    changed = np.abs(pixels.astype(int) - original).max(axis=2) > 0
    assert changed[100:200, 100:200].mean() > 0.9 and not changed[250:].any()
    assert (out / "photo-cleaned.png.json").exists()


def test_api_remove_text_keeps_every_pixel_but_the_text(keyed_server, fake, tmp_path):
    url, out = keyed_server
    pixels = photo_like(600, 400, seed=7)
    pixels[..., 1] = np.maximum(pixels[..., 1], 100)  # nothing near the fake's ink but the caption
    pixels[300:330, 100:400] = TEXT_INK
    photo = tmp_path / "sign.png"
    photo.write_bytes(encode(pixels, "PNG"))
    result = Client(url, verbose=False).predict(handle_file(photo), "png", "", api_name="/remove_text")
    fmt, after = decode(Path(result).read_bytes())
    assert Path(result).name == "sign-cleaned.png" and fmt == "PNG" and after.shape == (400, 600, 3)
    assert np.abs(after[305:325, 105:395].astype(int) - np.array(FILL)).max() < 40
    assert np.array_equal(after[:280], pixels[:280])  # bit-identical far from the text
    assert len(fake.requests_to("/v3/remove-text")) == 1 and set(fake.keys_seen) == {TEST_KEY}
    assert json.loads((out / "sign-cleaned.png.json").read_text())["engine"] == "remove-text"


def test_api_takes_a_heic_photo_from_a_phone(keyed_server, tmp_path):
    url, _ = keyed_server
    _, mask, _ = _files(tmp_path)
    heic = tmp_path / "IMG_0001.heic"
    # Stored sideways with EXIF orientation 6, as a phone does: the result is upright, 600 x 400.
    heic.write_bytes(phone_photo(np.ascontiguousarray(np.rot90(photo_like(600, 400), 1)), orientation=6))
    result = Client(url, verbose=False).predict(
        handle_file(heic), handle_file(mask), "jpeg", api_name="/local"
    )
    fmt, pixels = decode(Path(result).read_bytes())
    assert Path(result).name == "IMG_0001-cleaned.jpg" and fmt == "JPEG" and pixels.shape == (400, 600, 3)


def test_api_erase_applies_exif_orientation_and_uses_the_server_key(keyed_server, fake, tmp_path):
    url, _ = keyed_server
    _, mask, rotated = _files(tmp_path)
    result = Client(url, verbose=False).predict(
        handle_file(rotated), handle_file(mask), "", "webp", "", api_name="/erase"
    )
    fmt, pixels = decode(Path(result).read_bytes())
    assert fmt == "WEBP" and pixels.shape == (400, 600, 3)  # upright, like the mask
    assert np.abs(pixels[150, 150].astype(int) - np.array(FILL)).max() < 30  # erased where the mask is
    assert fake.keys_seen and set(fake.keys_seen) == {TEST_KEY}


def test_api_cleanup_uses_the_callers_key_and_reports_a_bad_one(keyed_server, fake, tmp_path):
    url, _ = keyed_server
    photo, mask, _ = _files(tmp_path)
    client = Client(url, verbose=False)
    with pytest.raises(Exception, match="rejected the API key") as caught:
        client.predict(handle_file(photo), handle_file(mask), "jpeg", "sk_wrong_key", api_name="/cleanup")
    assert "sk_wrong_key" not in str(caught.value)
    assert fake.keys_seen == ["sk_wrong_key"]


def test_api_without_any_key_says_one_is_needed(keyless_server, tmp_path):
    photo, mask, _ = _files(tmp_path)
    with pytest.raises(Exception, match="Novita needs yours: pass api_key"):
        Client(keyless_server, verbose=False).predict(
            handle_file(photo), handle_file(mask), "png", "", api_name="/cleanup"
        )


def test_cache_sweep_takes_hand_offs_but_never_an_open_tabs_files(fake_server, tmp_path, monkeypatch):
    from gradio.route_utils import delete_files_created_by_app

    cache = tmp_path / "gradio-cache"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    settings = fast_settings(fake_server.url, api_key=None)
    app = App(settings, Options())
    demo = build_app(settings, app=app)
    assert demo.delete_cache == (60, 600)
    demo.queue(**queue_kwargs())
    port = free_port()
    demo.launch(**launch_kwargs(port=port), prevent_thread_lock=True, quiet=True)
    try:
        assert app.scratch.root.parent == cache  # results are served from the scratch, never copied
        # A tab: photo loaded, one removal; Gradio's postprocess registers the files the page shows.
        photo, mask, _ = _files(tmp_path)
        _, session = _load(app, photo, "tab-1")
        assert session.photo is not None
        layer = tmp_path / "layer_0.png"
        layer.write_bytes(_layer_png(session.photo.preview_size, (100, 100, 200, 200)))
        _remove(app, session, layer)
        outcome = session.current
        assert outcome is not None
        shown = [session.photo.preview, outcome.file, outcome.after]
        block = next(b for b in demo.blocks.values() if isinstance(b, gr.DownloadButton))
        assert [block.move_resource_to_block_cache(str(p)) for p in shown] == [str(p) for p in shown]
        # An API call: its uploads and its result are hand-offs.
        Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            handle_file(photo), handle_file(mask), "png", api_name="/local"
        )
        # (Gradio's upload route also leaves one empty tmp* file per upload: no bytes, so not counted.)
        files = [p for p in cache.rglob("*") if p.is_file() and p.stat().st_size]
        handed_off = [p for p in files if app.scratch.folder_name("tab-1") not in p.parts]
        assert {p.name for p in handed_off} >= {"photo.jpg", "mask.png", "photo-cleaned.png"}

        delete_files_created_by_app(demo, age=0)  # Gradio's own sweep, with every file past its age

        assert all(p.exists() for p in shown), "the sweep took a file an open tab still shows"
        assert not [p for p in handed_off if p.exists()], "uploads and API results must not pile up"
        app.forget_session(_request("tab-1"))  # the tab closed
        assert not any(p.exists() for p in shown) and not app.scratch.kept
    finally:
        demo.close()


def _wait_for(condition: Any, what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds (a deadline, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_novita_removal_never_waits_behind_another_users_slow_one(keyed_server, fake, tmp_path):
    url, _ = keyed_server
    photo, mask, _ = _files(tmp_path)
    release = threading.Event()
    fake.fail_next("cleanup", Fault.hold(release))  # the first user's Novita request answers when released
    try:
        slow_user, quick_user = Client(url, verbose=False), Client(url, verbose=False)
        slow = slow_user.submit(handle_file(photo), handle_file(mask), "jpeg", "", api_name="/cleanup")
        _wait_for(lambda: fake.requests_to("/v3/cleanup"), "the slow request to reach Novita")
        quick = quick_user.submit(handle_file(photo), handle_file(mask), "jpeg", "", api_name="/cleanup")
        try:
            # The slow one is held until released below: a quick one queued behind it never finishes.
            assert Image.open(quick.result(timeout=60)).size == (600, 400)
        except TimeoutError as error:
            raise AssertionError("the second user waited behind the first one's Novita request") from error
        assert not slow.done(), "the slow removal ended first: the two did not overlap"
        release.set()
        assert Image.open(slow.result(timeout=60)).size == (600, 400)
    finally:
        release.set()
    assert len(fake.requests_to("/v3/cleanup")) == 2  # both went to the Novita server the app talks to


def test_an_api_call_waiting_for_a_busy_engine_keeps_its_upload_through_the_cache_sweep(
    fake_server, tmp_path
):
    """Uploads older than 10 minutes are swept: an /local call that waited that long in Gradio's queue
    found its photo gone and got "something unexpected" (5 of 32 calls in bench_memory on a loaded machine).
    """
    from gradio.route_utils import delete_files_created_by_app

    settings = fast_settings(fake_server.url, api_key=None)
    options = Options(offline_concurrency=1)
    app = App(settings, options)
    busy: list[RemoveRequest] = []
    release, remove = threading.Event(), app.service.remove

    async def engine_busy_until_released(request: RemoveRequest, *args: Any, **kwargs: Any) -> Any:
        busy.append(request)  # the first call: another user's large photo, still being processed
        await asyncio.to_thread(release.wait, 60)
        return await remove(request, *args, **kwargs)

    app.service.remove = engine_busy_until_released  # type: ignore[method-assign]
    running = launch(settings, options, app=app)
    demo, url = running.demo, running.url
    try:
        photo, mask, _ = _files(tmp_path)
        files = (handle_file(photo), handle_file(mask), "png")
        first = Client(url, verbose=False).submit(*files, api_name="/local")
        _wait_for(lambda: busy, "the first call to start")
        second = Client(url, verbose=False).submit(*files, api_name="/local")
        arrived = ("IN_QUEUE", "PROCESSING", "PROGRESS", "FINISHED")
        _wait_for(lambda: second.status().code.name in arrived, "the second call to reach the server")
        delete_files_created_by_app(demo, age=0)  # the sweep, with the waiting call's upload past its age
        release.set()
        for job in (first, second):
            assert Image.open(job.result(timeout=60)).size == (600, 400)
    finally:
        release.set()
        demo.close()


def test_an_upload_gone_from_the_server_gets_a_clear_message(keyless_app, tmp_path):
    with pytest.raises(gr.Error, match=r"no longer on the server.*Send it again"):
        asyncio.run(keyless_app.api.local(str(tmp_path / "swept.jpg"), None, "png", None))


def test_the_server_key_is_not_in_the_page_config(keyed_server):
    url, _ = keyed_server
    import httpx

    config = httpx.get(url + "config").text
    assert TEST_KEY not in config
    assert json.loads(config)["components"]  # the page's configuration really was fetched


def test_auth_refuses_anonymous_page_and_api(fake_server, tmp_path):
    import httpx

    demo, url = _launch(fast_settings(fake_server.url), Options(), auth=("ann", "s3cret:pass"))
    try:
        assert httpx.get(url + "config").status_code == 401
        with pytest.raises(Exception):  # noqa: B017  # gradio_client raises its own error for a 401
            Client(url, verbose=False)
        photo, mask, _ = _files(tmp_path)
        client = Client(url, auth=("ann", "s3cret:pass"), verbose=False)
        result = client.predict(handle_file(photo), handle_file(mask), "png", api_name="/local")
        assert Image.open(result).size == (600, 400)
    finally:
        demo.close()


def test_launch_settings_keep_secrets_out_of_the_browser_and_bound_the_queue():
    options = Options(queue_size=10)
    kwargs = launch_kwargs(options, host="0.0.0.0", port=7861, share=True)
    assert kwargs["run_history"] is False and kwargs["max_file_size"] == 100 * 2**20
    assert kwargs["server_name"] == "0.0.0.0" and kwargs["share"] is True
    assert queue_kwargs(options)["max_size"] == 10


def test_an_idle_app_looks_for_work_50_times_a_second_not_1000(fake_server, tmp_path):
    """Gradio's queue looked for new events every 1 ms: ~6 % of a core for an app nobody is using
    (gradio_seams.calm_idle_queue; benchmarks/bench_app.py measures the idle CPU)."""
    import gradio.queueing

    loop = inspect.getsource(gradio.queueing.Queue.start_processing)
    assert "await asyncio.sleep(self.sleep_when_free)" in loop
    progress = inspect.getsource(gradio.queueing.Queue.start_progress_updates)
    assert "await asyncio.sleep(self.progress_update_sleep_when_free)" in progress
    with launched(fast_settings(fake_server.url, api_key=None)) as running:
        queue = running.demo._queue
        assert queue.sleep_when_free == gradio_seams.QUEUE_IDLE_POLL_S == 0.02
        assert queue.progress_update_sleep_when_free == gradio_seams.PROGRESS_POLL_S == 0.05
        # and it still does its work: a removal through the API
        photo, mask, _ = _files(tmp_path)
        result = Client(running.url, verbose=False).predict(
            handle_file(photo), handle_file(mask), "png", api_name="/local"
        )
        assert Image.open(result).size == (600, 400)


def test_app_py_flags_and_environment(monkeypatch):
    import app as app_module

    monkeypatch.setenv("PORT", "9000")
    assert app_module.resolve_address(None, None) == ("127.0.0.1", 9000)
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7000")
    monkeypatch.setenv("SPACE_ID", "someone/space")
    assert app_module.resolve_address(None, None) == ("0.0.0.0", 7000)
    assert app_module.resolve_address("127.0.0.1", 8000) == ("127.0.0.1", 8000)
    assert app_module.parse_auth("ann:pa:ss") == ("ann", "pa:ss")
    with pytest.raises(ValueError, match="USER:PASS"):
        app_module.parse_auth("nobody")
    # 32 users at once each get their answer in one Novita round trip (benchmarks/bench_load.py)
    assert app_module.build_parser().parse_args([]).novita_concurrency == Options().novita_concurrency == 32


# ---- the session's truth (issue 11), without a browser -----------------------------------------------------


def _blank(path: Path, size: tuple[int, int]) -> Path:
    Image.new("RGB", size, "white").save(path)
    return path


def test_a_canvas_that_no_longer_shows_the_photo_is_refused_before_any_request(
    keyless_app, tmp_path, monkeypatch
):
    session, layer = _painted(keyless_app, tmp_path, (800, 600))
    calls: list[RemoveRequest] = []

    async def spy(request: RemoveRequest, on_progress: Any = None) -> Any:
        calls.append(request)
        raise AssertionError("nothing may be sent")

    monkeypatch.setattr(keyless_app, "remove", spy)
    # Undo right after loading: the editor exports a blank canvas (800 x 800 here, or the photo's size).
    for blank in (_blank(tmp_path / "a.png", (800, 800)), _blank(tmp_path / "b.png", (800, 600))):
        with pytest.raises(gr.Error, match="no longer shows your photo"):
            _remove(keyless_app, session, layer, canvas=str(blank))
    assert calls == [] and session.running is None


def test_one_job_per_tab_and_a_job_is_never_started_twice():
    session = Session()
    first = JobSpec.parse(
        {"id": "a", "engine": "Novita Eraser", "format": "jpeg", "grow": 3, "photo": 1, "after": 0}
    )
    again = JobSpec.parse({"id": "b", "engine": "Offline", "format": "png", "after": 1})
    assert session.start(first) and not session.start(again)  # a double-click: one job
    assert session.is_newest(first)
    session.finish(first)
    assert not session.start(first)  # the page re-sending an old job starts nothing
    late = JobSpec.parse({"id": "late", "engine": "Offline", "format": "png", "after": 0})
    assert not session.start(late)  # clicked before the first job ended (its event came late)
    assert session.start(again) and session.is_newest(again) and not session.is_newest(first)
    assert (first.engine, first.output_format, first.grow, first.photo) == ("eraser", "jpeg", 3, 1)
    with pytest.raises(InputError, match="Unknown engine"):
        JobSpec.parse({"id": "c", "engine": "Offline|nonce", "format": "png", "after": 0})
    with pytest.raises(InputError, match="reload"):
        JobSpec.parse({"id": "d", "engine": "Offline", "format": "png"})  # a page without the job count


def test_a_second_click_while_a_job_runs_sends_nothing(keyless_app, tmp_path, monkeypatch):
    photo = tmp_path / "p.jpg"
    photo.write_bytes(encode(photo_like(320, 240)))
    _, session = _load(keyless_app, photo)
    assert session.photo is not None
    session.start(JobSpec.parse({"id": "running", "engine": "Offline", "format": "png", "after": 0}))
    assert _remove(keyless_app, session, None, prompt="x") == [{}]  # ignored: nothing on the page changes


def _clicked(session: Session, page: dict[str, Any]) -> dict[str, Any]:
    """A Novita Eraser job as page.GATHER_JS takes it at a click: from what the page shows (``page`` holds
    the last changes the server sent it), never from the server's state."""
    version = session.photo.version if session.photo else None
    job = {"id": f"j{next(_JOBS)}", "engine": "Novita Eraser", "format": "jpeg", "grow": 0, "photo": version}
    return {**job, "after": page.get("jobs", 0)}


async def _run_job(app: App, session: Session, job: dict[str, Any], layer: Path) -> list[dict[str, Any]]:
    shown = str(session.photo.shown) if session.photo else None
    read = page_read([layer], shown)
    return await _drain(app.removal.run({**job, **read}, "", session, _no_progress))  # type: ignore[arg-type]


async def test_a_double_click_whose_second_event_arrives_after_the_first_job_ended_starts_one_task(
    fake, tmp_path
):
    """The flaky browser run (two image-eraser POSTs): both clicks of a double-click are taken from the same
    page, but on a loaded machine the second one's event (its canvas export and upload come first) reached
    the server after the first job had ended, so "a job is running" no longer held it back."""
    app = App(fast_settings(fake.url), Options(scratch_dir=tmp_path / "scratch"))
    photo = tmp_path / "p.jpg"
    photo.write_bytes(encode(photo_like(800, 600)))
    session = Session()
    try:
        await app.photos.load_photo(str(photo), session, _request())
        assert session.photo is not None
        layer = tmp_path / "layer_0.png"
        layer.write_bytes(_layer_png(session.photo.preview_size, (10, 10, 50, 50)))
        page: dict[str, Any] = {}
        first, second = _clicked(session, page), _clicked(session, page)  # one double-click
        done = await _run_job(app, session, first, layer)
        assert "result_info" in done[-1]
        page.update(done[-1])
        late = await _run_job(app, session, second, layer)
        assert not any("status" in c or "result_info" in c for c in late), late
        assert len(fake.requests_to("/v3/async/image-eraser")) == 1, "a double-click started two paid tasks"
        again = await _run_job(app, session, _clicked(session, page), layer)  # clicked after the result
        assert "result_info" in again[-1] and len(fake.requests_to("/v3/async/image-eraser")) == 2
    finally:
        await app.aclose()


def test_an_uploaded_mask_is_drawn_merged_cleared_and_dropped_with_its_photo(keyless_app, tmp_path):
    photo, mask, _ = _files(tmp_path)  # 600 x 400, mask over (100, 100)-(200, 200)
    _, session = _load(keyless_app, photo)
    assert session.photo is not None
    changes = asyncio.run(keyless_app.photos.attach_mask(str(mask), [], session))
    drawn = np.asarray(Image.open(changes["editor"]["background"]).convert("RGB")).astype(int)
    scale = session.photo.preview_size[0] / 600
    inside, outside = drawn[int(150 * scale), int(150 * scale)], drawn[int(300 * scale), int(450 * scale)]
    assert min(inside[0], inside[2]) > inside[1] + 60, "the mask is drawn in the brush's pink"
    assert json.loads(changes["photo_info"])["mask"] == "mask.png"
    # Nothing painted: the uploaded mask alone says what goes (with the canvas that shows it).
    _remove(keyless_app, session, None)
    out = np.asarray(Image.open(session.current.file).convert("RGB")).astype(int)  # type: ignore[union-attr]
    changed = np.abs(out - np.asarray(Image.open(photo).convert("RGB")).astype(int)).max(axis=2) > 0
    assert changed[120:180, 120:180].mean() > 0.5 and not changed[:, 300:].any()
    assert outside[2] > 0 and keyless_app.photos.clear_mask(session)["mask_upload"] is None
    assert session.mask is None and session.photo.shown == session.photo.preview
    with pytest.raises(gr.Error, match="pink brush"):
        _remove(keyless_app, session, None)  # cleared means cleared
    asyncio.run(keyless_app.photos.attach_mask(str(mask), [], session))
    other = tmp_path / "portrait.jpg"
    other.write_bytes(encode(photo_like(300, 400)))
    changes, _ = _load(keyless_app, other, session=session)
    assert session.mask is None and "dropped" in changes["status"] and changes["mask_upload"] is None


def test_painted_strokes_stay_when_a_mask_file_arrives_or_goes(keyless_app, tmp_path):
    photo, mask, _ = _files(tmp_path)
    _, session = _load(keyless_app, photo)
    assert session.photo is not None
    stroke = tmp_path / "layer_0.png"
    stroke.write_bytes(_layer_png(session.photo.preview_size, (300, 40, 360, 90)))
    stale = tmp_path / "old-layer.png"  # a layer of another canvas size is not this photo's
    stale.write_bytes(_layer_png((50, 50), (0, 0, 10, 10)))
    changes = asyncio.run(keyless_app.photos.attach_mask(str(mask), [str(stroke), str(stale)], session))
    assert changes["editor"]["layers"] == [str(stroke)], "the painted strokes were lost"
    assert "with what you painted" in changes["status"]
    changes = keyless_app.photos.mask_removed([str(stroke)], session)
    assert changes["editor"]["layers"] == [str(stroke)] and session.mask is None


def test_an_uploaded_mask_follows_a_new_photo_of_the_same_shape_rescaled(keyless_app, tmp_path):
    photo, mask, _ = _files(tmp_path)  # 600 x 400, mask over (100, 100)-(200, 200)
    _, session = _load(keyless_app, photo)
    asyncio.run(keyless_app.photos.attach_mask(str(mask), [], session))
    bigger = tmp_path / "bigger.jpg"
    bigger.write_bytes(encode(photo_like(1203, 800)))  # 3:2 within 1 %
    changes, _ = _load(keyless_app, bigger, session=session)
    assert "rescaled from 600 × 400 to 1203 × 800" in changes["status"] and "mask_upload" not in changes
    assert session.mask is not None and session.mask.shape == (800, 1203)
    assert session.mask[250:350, 250:350].all() and not session.mask[:150].any()
    assert json.loads(changes["photo_info"])["mask"] == "mask.png"
    drawn = np.asarray(Image.open(changes["editor"]["background"]).convert("RGB")).astype(int)
    scale = session.photo.preview_size[0] / 1203  # type: ignore[union-attr]
    inside = drawn[int(300 * scale), int(300 * scale)]
    assert min(inside[0], inside[2]) > inside[1] + 60, "the rescaled mask is drawn in pink"
    squarer = tmp_path / "squarer.jpg"
    squarer.write_bytes(encode(photo_like(1230, 800)))  # 2.5 % wider: another shape
    changes, _ = _load(keyless_app, squarer, session=session)
    assert session.mask is None and "dropped" in changes["status"] and changes["mask_upload"] is None


def test_a_mask_of_another_shape_is_refused_and_needs_a_photo_first(keyless_app, tmp_path):
    photo, _, _ = _files(tmp_path)
    square = tmp_path / "square.png"
    Image.new("L", (500, 500), 255).save(square)
    with pytest.raises(gr.Error, match="Add a photo first"):
        asyncio.run(keyless_app.photos.attach_mask(str(square), [], Session()))
    _, session = _load(keyless_app, photo)
    with pytest.raises(gr.Error, match="shapes differ"):
        asyncio.run(keyless_app.photos.attach_mask(str(square), [], session))
    assert session.mask is None


def test_masks_merge_painted_and_uploaded_at_the_photos_size():
    painted = np.zeros((30, 40), np.uint8)
    painted[:10, :10] = 255
    uploaded = np.zeros((300, 400), np.uint8)
    uploaded[200:, 300:] = 255
    merged = masks.merge(painted, uploaded, (400, 300))
    assert merged is not None and merged.shape == (300, 400)
    assert merged[:100, :100].all() and merged[200:, 300:].all() and not merged[150, 150]
    assert masks.merge(np.zeros((3, 4), np.uint8), None, (400, 300)) is None
    with pytest.raises(InputError, match="shapes differ"):
        masks.merge(np.full((10, 10), 255, np.uint8), None, (400, 300))


def test_the_bin_empties_the_session_and_turns_remove_off(keyless_app, tmp_path):
    photo, _, _ = _files(tmp_path)
    _, session = _load(keyless_app, photo)
    changes = keyless_app.photos.photo_removed(session)
    assert session.photo is None and changes["remove"]["interactive"] is False
    assert "Add a photo" in changes["status"] and changes["photo_info"] == ""


@pytest.mark.parametrize(
    ("error", "own_key", "says", "never"),
    [
        (
            AuthenticationError("x", status_code=401, reason="INVALID"),
            False,
            "this server's API key",
            "you typed",
        ),
        (
            AuthenticationError("x", status_code=401, reason="INVALID"),
            True,
            "the API key you typed",
            "server",
        ),
        (MissingAPIKeyError("set NOVITA_API_KEY"), False, "type it in *Novita API key*", "NOVITA_API_KEY"),
    ],
)
def test_key_messages_say_whose_key_and_what_to_do_in_the_browser(error, own_key, says, never, caplog):
    caplog.set_level("INFO")
    text = user_message(error, own_key=own_key)
    assert says in text and never not in text and "Offline" in text
    if not own_key:
        assert "NOVITA_API_KEY" in caplog.text  # the operator's advice goes to the log


def test_handlers_answer_by_name_and_keep_their_gradio_signature():
    async def handler(path: str | None, request: gr.Request) -> dict[str, Any]:
        return {"status": path}

    wrapped, outputs = named(handler, {"status": "STATUS-COMPONENT"})
    assert asyncio.run(wrapped("x", None)) == {"STATUS-COMPONENT": "x"} and outputs == ["STATUS-COMPONENT"]
    assert list(inspect.signature(wrapped).parameters) == ["path", "request"]


def test_a_handler_with_nothing_to_change_leaves_every_output_as_it_is():
    """No changes (a stale photo action, an empty job) skip every output:
    Gradio refuses an empty dict ("didn't return enough output values")."""
    with gr.Blocks() as demo:
        fn, outputs = named(lambda: {}, {"a": gr.Textbox("A"), "b": gr.Textbox("B")})
        gr.Button().click(fn, None, outputs)
    answer = asyncio.run(demo.process_api(block_fn=0, inputs=[], state=None))
    assert answer["data"] == [gr.skip(), gr.skip()]


def test_the_ui_package_keeps_its_shape():
    """No module over ~300 lines; no event handler with more than 6 parameters (besides self)."""
    import novita_ui.ui as package

    folder = Path(package.__file__).parent
    for module in folder.glob("*.py"):
        assert len(module.read_text().splitlines()) <= 300, module.name
    for cls in (PhotoEvents, RemovalEvents, ApiEndpoints):
        for name, fn in inspect.getmembers(cls, inspect.isfunction):
            if not name.startswith("_"):
                params = [p for p in inspect.signature(fn).parameters if p != "self"]
                assert len(params) <= 6, f"{cls.__name__}.{name} takes {len(params)} parameters"


def test_the_gradio_internals_the_app_relies_on_are_still_there(tmp_path, monkeypatch):
    """Fails loudly when a Gradio upgrade moves what gradio_seams relies on (see its docstring)."""
    import gradio
    from gradio import route_utils

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache"))
    assert gradio_seams.upload_folder() == tmp_path / "cache"
    sweep = inspect.getsource(route_utils.delete_files_created_by_app)
    assert 'getattr(component, "keep_in_cache"' in sweep  # read as an iterable of paths
    assets = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
    frontend = "".join(p.read_text(errors="ignore") for p in assets.glob("*.js"))
    assert "-upload-button" in frontend and 'data-testid="toast-body"' in frontend
    assert "clear_canvas:`Clear canvas`" in frontend  # the bin's aria-label
    # Toast titles are the level's name, not gr.Error's title: hence gradio_seams.titled.
    assert "t.type.charAt(0).toUpperCase()+t.type.slice(1)" in frontend
    assert gradio_seams.titled("a < b", "Bad & wrong") == "<strong>Bad &amp; wrong.</strong> a &lt; b"
