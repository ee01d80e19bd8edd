"""Batch mode, driven like a user drives it (``cli.main``) against the fake Novita server over real HTTP."""

from __future__ import annotations

import csv
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import novita_ui.service  # noqa: F401  # imported once here, so no test's timing pays for cv2 and friends
from novita_ui.batch import (
    CLEANUP_DEFAULT_RATE,
    RateLimiter,
    default_rate,
    match_mask,
    parse_rate,
)
from novita_ui.cli import main
from novita_ui.errors import InputError
from novita_ui.pixels.imaging import open_photo
from tests.clock import FakeClock
from tests.fake_novita import FILL, TEST_KEY, FakeNovita, Fault, TaskPlan, central_box, running_fake_novita

W, H = 64, 48
Box = tuple[int, int, int, int]  # left, top, right, bottom


# ---- helpers -------------------------------------------------------------------------------------------


def photo(width: int = W, height: int = H, shift: int = 0) -> np.ndarray:
    """A gradient with blue 90: never FILL, so every FILL pixel of an output was erased by the fake."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([(xs * 4 + shift) % 256, ys * 5 % 256, np.full_like(xs, 90)], -1).astype(np.uint8)


def save_photo(path: Path, width: int = W, height: int = H, shift: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(photo(width, height, shift)).save(path)
    return path


def save_mask(path: Path, box: Box, size: tuple[int, int] = (W, H)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = np.zeros((size[1], size[0]), np.uint8)
    left, top, right, bottom = box
    mask[top:bottom, left:right] = 255
    Image.fromarray(mask).save(path)
    return path


def filled(path: Path) -> np.ndarray:
    """Boolean H x W: where the output holds the fake model's FILL colour."""
    pixels = np.asarray(Image.open(path).convert("RGB"))
    return np.asarray(np.all(pixels == FILL, axis=2))


def box_area(box: Box, size: tuple[int, int] = (W, H)) -> np.ndarray:
    area = np.zeros((size[1], size[0]), bool)
    left, top, right, bottom = box
    area[top:bottom, left:right] = True
    return area


def batch(*args: object) -> int:
    return main(["batch", *(str(a) for a in args)])


def report(out: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((out / "report.json").read_text())
    return doc


def rows(out: Path) -> dict[str, dict[str, Any]]:
    return {row["file"]: row for row in report(out)["files"]}


# ---- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No NOVITA_* variable of the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.startswith("NOVITA_"):
            monkeypatch.delenv(name)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNovita]:
    with running_fake_novita() as server:
        monkeypatch.setenv("NOVITA_BASE_URL", server.url)
        monkeypatch.setenv("NOVITA_API_KEY", TEST_KEY)
        yield server


# ---- pairing -------------------------------------------------------------------------------------------


def test_pairs_masks_by_stem_and_exact_stem_wins(fake: FakeNovita, tmp_path: Path) -> None:
    images, masks, out = tmp_path / "in", tmp_path / "masks", tmp_path / "out"
    boxes = {"a": (2, 2, 20, 12), "a_mask": (40, 30, 60, 44), "b": (10, 20, 30, 40), "c": (30, 5, 50, 25)}
    save_photo(images / "a.png")
    save_photo(images / "b.jpg", shift=7)
    save_photo(images / "c.png", shift=13)
    save_mask(masks / "a.png", boxes["a"])
    save_mask(masks / "a_mask.png", boxes["a_mask"])  # loses to the exact stem
    save_mask(masks / "b-mask.png", boxes["b"])
    save_mask(masks / "C_MASK.PNG", boxes["c"])  # case is forgiven as a last resort

    assert batch(images, "--mask", masks, "--format", "png", "--output-dir", out) == 0

    for stem in "abc":
        assert np.array_equal(filled(out / f"{stem}-cleaned.png"), box_area(boxes[stem])), stem
    assert {name: row["mask"] for name, row in rows(out).items()} == {
        "a.png": "a.png",
        "b.jpg": "b-mask.png",
        "c.png": "C_MASK.PNG",
    }
    assert len(fake.requests_to("/v3/async/image-eraser")) == 3


def test_the_spend_cap_holds_for_a_batch_on_the_environments_key(
    fake: FakeNovita, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVITA_MAX_REQUESTS_PER_HOUR", "2")  # the service's spend guard, as the web app's
    images, out = tmp_path / "in", tmp_path / "out"
    for i in range(3):
        save_photo(images / f"shot{i}.png", shift=i)
    mask = save_mask(tmp_path / "mask.png", (24, 18, 32, 24))

    code = batch(images, "--mask", mask, "--engine", "cleanup", "--rate", "none", "--output-dir", out)

    assert code != 0 and len(fake.requests_to("/v3/cleanup")) == 2, "the cap of 2 requests was exceeded"
    refused = [row for row in rows(out).values() if "2 requests per hour" in str(row.get("error"))]
    assert len(refused) == 1 and len(list(out.glob("*-cleaned.png"))) == 2


def test_match_mask_order() -> None:
    masks = {name: Path(f"{name}.png") for name in ("x_mask", "x-mask", "y-mask", "Z")}
    assert match_mask("x", masks) == Path("x_mask.png")
    assert match_mask("y", masks) == Path("y-mask.png")
    assert match_mask("z", masks) == Path("Z.png")
    assert match_mask("w", masks) is None


def test_masks_side_by_side_with_the_photos(fake: FakeNovita, tmp_path: Path) -> None:
    folder, out = tmp_path / "shoot", tmp_path / "out"
    save_photo(folder / "p1.png")
    save_mask(folder / "p1_mask.png", (3, 3, 13, 13))
    save_photo(folder / "p2.png")
    save_mask(folder / "p2-mask.png", (20, 20, 40, 40))

    assert batch(folder, "--mask", folder, "--output-dir", out) == 0

    assert sorted(rows(out)) == ["p1.png", "p2.png"]  # the masks are not cleaned as photos
    assert np.array_equal(filled(out / "p2-cleaned.png"), box_area((20, 20, 40, 40)))


def test_one_mask_for_every_image_is_scaled(fake: FakeNovita, tmp_path: Path) -> None:
    images, out = tmp_path / "in", tmp_path / "out"
    for i in range(3):
        save_photo(images / f"shot{i}.png", shift=i)
    mask = save_mask(tmp_path / "watermark.png", (24, 18, 32, 24), size=(W // 2, H // 2))  # half size

    assert batch(images, "--mask", mask, "--engine", "cleanup", "--rate", "none", "--output-dir", out) == 0

    for i in range(3):
        assert np.array_equal(filled(out / f"shot{i}-cleaned.png"), box_area((48, 36, 64, 48)))
    assert {row["mask"] for row in rows(out).values()} == {"watermark.png"}


def test_image_without_a_mask_fails_unless_a_prompt_can_do_it(fake: FakeNovita, tmp_path: Path) -> None:
    images, masks = tmp_path / "in", tmp_path / "masks"
    save_photo(images / "has.png")
    save_photo(images / "lacks.png")
    save_mask(masks / "has.png", (2, 2, 10, 10))

    assert batch(images, "--mask", masks, "--output-dir", tmp_path / "out1") == 1
    assert rows(tmp_path / "out1")["lacks.png"]["error"] == f"no mask named lacks.* in {masks}"

    out = tmp_path / "out2"
    assert batch(images, "--mask", masks, "--prompt", "dog", "--output-dir", out) == 0
    assert np.array_equal(filled(out / "lacks-cleaned.png"), box_area(central_box(W, H)))
    assert np.array_equal(filled(out / "has-cleaned.png"), box_area((2, 2, 10, 10)))


# ---- failures ------------------------------------------------------------------------------------------


def test_bad_files_fail_alone(fake: FakeNovita, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, out = tmp_path / "in", tmp_path / "out"
    save_photo(images / "good1.png")
    (images / "broken.jpg").write_bytes(b"this is not a JPEG")
    save_photo(images / "square.png", width=48, height=48)  # the mask's shape does not fit it
    save_photo(images / "good2.png")
    (images / ".hidden.png").write_bytes(b"ignored")
    (images / "notes.txt").write_text("ignored")
    mask = save_mask(tmp_path / "mask.png", (4, 4, 12, 12))

    assert batch(images, "--mask", mask, "--output-dir", out) == 1

    found = rows(out)
    assert sorted(found) == ["broken.jpg", "good1.png", "good2.png", "square.png"]
    assert [found[n]["status"] for n in ("good1.png", "good2.png")] == ["done", "done"]
    assert found["broken.jpg"]["status"] == "failed"
    with pytest.raises(InputError) as unreadable:
        open_photo(b"this is not a JPEG")
    assert found["broken.jpg"]["error"] == str(unreadable.value)  # the service's own words
    assert "their shapes differ" in found["square.png"]["error"]
    assert sorted(p.name for p in out.glob("*-cleaned.*")) == ["good1-cleaned.png", "good2-cleaned.png"]
    err = capsys.readouterr().err
    assert f"failed: broken.jpg: {unreadable.value}" in err
    assert "2 done, 0 skipped, 2 failed" in err


def test_remote_failures_are_reported_with_task_id(fake: FakeNovita, tmp_path: Path) -> None:
    images, out = tmp_path / "in", tmp_path / "out"
    save_photo(images / "a.png")
    save_photo(images / "b.png")
    fake.task_plan = TaskPlan(fail_reason="GPU on fire")
    assert batch(images, "--prompt", "dog", "--output-dir", out) == 1
    for row in rows(out).values():
        assert row["status"] == "failed"
        assert row["error"].endswith("failed: GPU on fire")
        assert row["task_id"] in fake.tasks


def test_a_paid_task_is_in_the_report_whatever_ends_it(fake: FakeNovita, tmp_path: Path) -> None:
    """Issue 13, finding 5: the task id is kept from its creation, not only from a TaskError."""
    images, out = tmp_path / "in", tmp_path / "out"
    save_photo(images / "a.png")
    fake.fail_next("task", Fault.status(400, reason="INVALID_REQUEST_BODY"))  # a poll refused for good
    assert batch(images, "--prompt", "dog", "--output-dir", out) == 1
    row = rows(out)["a.png"]
    assert row["status"] == "failed" and row["task_id"] in fake.tasks and row["task_id"] in row["error"]


def test_cleanup_error_fails_one_image(fake: FakeNovita, tmp_path: Path) -> None:
    images, out = tmp_path / "in", tmp_path / "out"
    for name in ("a", "b", "c"):
        save_photo(images / f"{name}.png")
    mask = save_mask(tmp_path / "m.png", (1, 1, 5, 5))
    fake.fail_next("cleanup", Fault.status(400, reason="ILLEGAL_IMAGE_CONTENT"))
    cleanup = ["--engine", "cleanup", "--rate", "600", "--concurrency", 1]
    assert batch(images, "--mask", mask, *cleanup, "--output-dir", out) == 1
    assert [row["status"] for row in rows(out).values()] == ["failed", "done", "done"]
    assert "ILLEGAL_IMAGE_CONTENT" in rows(out)["a.png"]["error"]


def test_a_rejected_key_stops_calling_novita(
    fake: FakeNovita, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVITA_API_KEY", "sk_wrong")
    images, out = tmp_path / "in", tmp_path / "out"
    for i in range(4):
        save_photo(images / f"{i}.png")
    assert batch(images, "--prompt", "dog", "--concurrency", 1, "--output-dir", out) == 1
    errors = [row["error"] for row in rows(out).values()]
    assert "rejected the API key" in errors[0]
    assert all(e.startswith("not run: Novita rejected the API key") for e in errors[1:])
    assert len(fake.requests_to("/v3/async/image-eraser")) == 1
    assert "sk_wrong" not in (out / "report.json").read_text() + (out / "report.csv").read_text()


# ---- resuming ------------------------------------------------------------------------------------------


def test_second_run_skips_and_overwrite_redoes(
    fake: FakeNovita, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, out = tmp_path / "in", tmp_path / "out"
    for i in range(3):
        save_photo(images / f"{i}.png")
    mask = save_mask(tmp_path / "m.png", (1, 1, 9, 9))
    assert batch(images, "--mask", mask, "--output-dir", out) == 0
    (out / "1-cleaned.png").write_bytes(b"stale")
    fake.clear()
    capsys.readouterr()

    assert batch(images, "--mask", mask, "--output-dir", out) == 0
    assert fake.requests == []
    assert {row["status"] for row in rows(out).values()} == {"skipped"}
    assert report(out)["counts"] == {"done": 0, "skipped": 3, "failed": 0, "total": 3}
    assert "0 done, 3 skipped, 0 failed" in capsys.readouterr().err

    assert batch(images, "--mask", mask, "--output-dir", out, "--overwrite") == 0
    assert len(fake.requests_to("/v3/async/image-eraser")) == 3
    assert {row["status"] for row in rows(out).values()} == {"done"}
    assert filled(out / "1-cleaned.png")[1:9, 1:9].all()


def test_report_json_and_csv(fake: FakeNovita, tmp_path: Path) -> None:
    images, out = tmp_path / "in", tmp_path / "out"
    save_photo(images / "a.png")
    (images / "b.png").write_bytes(b"")
    mask = save_mask(tmp_path / "m.png", (1, 1, 9, 9))
    assert batch(images, "--mask", mask, "--format", "webp", "--output-dir", out) == 1

    doc = report(out)
    assert doc["engine"] == "eraser"
    assert doc["counts"] == {"done": 1, "skipped": 0, "failed": 1, "total": 2}
    a, b = doc["files"]
    assert a["status"] == "done" and a["task_id"] in fake.tasks and a["seconds"] > 0
    assert a["output"] == str(out / "a-cleaned.webp") and a["error"] == ""
    assert b["status"] == "failed" and b["output"] == "" and "empty" in b["error"]
    with (out / "report.csv").open(newline="") as file:
        table = list(csv.DictReader(file))
    assert list(table[0]) == ["file", "mask", "status", "engine", "seconds", "task_id", "error", "output"]
    assert [{k: str(v) for k, v in row.items()} for row in doc["files"]] == table
    assert TEST_KEY not in (out / "report.json").read_text() + (out / "report.csv").read_text()


# ---- concurrency and rate ------------------------------------------------------------------------------


def test_concurrency_is_real(fake: FakeNovita, tmp_path: Path) -> None:
    """Eight photos, --concurrency 8: every request is held at the fake until all eight have arrived, so a
    batch that sent them one after another (or in fewer lanes) never gets its first answer in time."""
    images, out = tmp_path / "in", tmp_path / "out"
    for i in range(8):
        save_photo(images / f"{i}.png", shift=i)
    mask = save_mask(tmp_path / "m.png", (1, 1, 9, 9))
    release = threading.Event()
    fake.fail_next("cleanup", *[Fault.hold(release, limit=60)] * 8)
    arrived_together: list[int] = []

    def release_once_all_arrived() -> None:
        deadline = time.monotonic() + 60
        while len(fake.requests_to("/v3/cleanup")) < 8 and time.monotonic() < deadline:
            time.sleep(0.01)  # polling the fake for arrivals, not pacing the test
        arrived_together.append(len(fake.requests_to("/v3/cleanup")))
        release.set()

    watcher = threading.Thread(target=release_once_all_arrived, daemon=True)
    watcher.start()
    try:
        cleanup = ["--engine", "cleanup", "--rate", "none", "--concurrency", 8]
        code = batch(images, "--mask", mask, *cleanup, "--output-dir", out)
    finally:
        release.set()
        watcher.join(5)
    assert code == 0
    assert arrived_together == [8], "not all eight requests were in flight before the first answer"
    assert len(fake.requests_to("/v3/cleanup")) == 8 and len(list(out.iterdir())) >= 8


async def test_rate_limiter_spaces_sequential_starts() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock=clock, sleep=clock.sleep)  # one start every 0.5 s
    starts = []
    for _ in range(4):
        await limiter.acquire()
        starts.append(clock.now)
    assert starts == [100.0, 100.5, 101.0, 101.5]
    clock.now += 10  # idle time does not bank a burst beyond the bucket's size
    assert await limiter.acquire() == 0
    assert await limiter.acquire() == pytest.approx(0.5)


async def test_rate_limiter_reserves_slots_for_concurrent_callers() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10 / 60, burst=2, clock=clock, sleep=lambda s: _noop())  # 6 s apart after 2
    waits = [await limiter.acquire() for _ in range(5)]  # nobody sleeps: as if all asked at once
    assert waits == pytest.approx([0, 0, 6, 12, 18])


async def _noop() -> None:
    return None


def test_rate_limiter_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)
    with pytest.raises(ValueError):
        RateLimiter(1, burst=0)


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("10/min", 10 / 60), ("10", 10 / 60), ("2.5 / m", 2.5 / 60), ("2/s", 2.0), ("600/h", 600 / 3600),
     ("none", None), ("OFF", None), (" 30/MIN ", 0.5)],
)  # fmt: skip
def test_parse_rate(text: str, per_second: float | None) -> None:
    assert parse_rate(text) == (None if per_second is None else pytest.approx(per_second))


@pytest.mark.parametrize("text", ["", "0", "-1/min", "10/fortnight", "ten", "10 per min", "/min"])
def test_parse_rate_refuses(text: str) -> None:
    with pytest.raises(InputError, match="--rate"):
        parse_rate(text)


def test_default_rates() -> None:
    assert default_rate("cleanup", None) == CLEANUP_DEFAULT_RATE == 10 / 60
    assert default_rate("eraser", None) is None
    assert default_rate("local", None) is None
    assert default_rate("eraser", "6") == pytest.approx(0.1)


# ---- usage errors --------------------------------------------------------------------------------------


@pytest.fixture
def usable(tmp_path: Path) -> tuple[Path, Path]:
    save_photo(tmp_path / "in" / "a.png")
    return tmp_path / "in", save_mask(tmp_path / "m.png", (1, 1, 5, 5))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing input", "not found"),
        ("input is a file", "is not a folder"),
        ("no images", "no images in"),
        ("bad rate", "--rate"),
        ("empty mask folder", "holds no masks"),
        ("missing mask", "not found"),
        ("mask not an image", "is not an image"),
        ("no mask no prompt", "give --mask"),
        ("prompt offline", "--prompt works only with the Novita eraser"),
        ("eraser without key", "needs a Novita key"),
        ("zero concurrency", "--concurrency"),
    ],
)
def test_usage_errors_exit_2(
    case: str, message: str, usable: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, mask = usable
    args: list[object] = [images, "--mask", mask]
    if case == "missing input":
        args[0] = tmp_path / "nowhere"
    elif case == "input is a file":
        args[0] = mask
    elif case == "no images":
        (tmp_path / "empty").mkdir()
        args[0] = tmp_path / "empty"
    elif case == "bad rate":
        args += ["--rate", "10/fortnight"]
    elif case == "empty mask folder":
        (tmp_path / "masks").mkdir()
        (tmp_path / "masks" / "readme.txt").write_text("no masks here")
        args[2] = tmp_path / "masks"
    elif case == "missing mask":
        args[2] = tmp_path / "nomask.png"
    elif case == "mask not an image":
        (tmp_path / "fake.png").write_text("text")
        args[2] = tmp_path / "fake.png"
    elif case == "no mask no prompt":
        args = [images]
    elif case == "prompt offline":
        args += ["--prompt", "dog"]
    elif case == "eraser without key":
        args += ["--engine", "eraser"]
    elif case == "zero concurrency":
        args += ["--concurrency", 0]
    out = tmp_path / "out"
    assert batch(*args, "--output-dir", out) == 2
    assert message in capsys.readouterr().err
    assert not (out / "report.json").exists()


# ---- offline -------------------------------------------------------------------------------------------


def test_local_engine_needs_no_key(tmp_path: Path) -> None:
    images, out = tmp_path / "in", tmp_path / "out"
    save_photo(images / "a.png")
    save_photo(images / "b.png", shift=50)
    mask = save_mask(tmp_path / "m.png", (20, 15, 36, 30))

    assert batch(images, "--mask", mask, "--output-dir", out) == 0  # no key: the offline engine

    assert report(out)["engine"] == "local"
    for name, shift in (("a", 0), ("b", 50)):
        before, after = photo(shift=shift), np.asarray(Image.open(out / f"{name}-cleaned.png").convert("RGB"))
        changed = np.any(before != after, axis=2)
        assert changed.any() and not (changed & ~box_area((20, 15, 36, 30))).any()
