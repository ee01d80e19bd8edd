"""The command line as a user runs it: exit codes, one clear line per error, atomic outputs, no key leaks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from novita_ui.cli import main
from tests.fake_novita import FILL, TEST_KEY, FakeNovita, Fault, TaskPlan
from tests.images import box_mask, encode, photo_like

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    image = tmp_path / "holiday.jpg"
    image.write_bytes(encode(photo_like(120, 80)))
    mask = tmp_path / "mask.png"
    mask.write_bytes(encode(box_mask(120, 80, (40, 20, 80, 60)), "PNG"))
    return {"image": image, "mask": mask, "out": tmp_path / "out" / "holiday-cleaned.png"}


@pytest.fixture
def env(fake: FakeNovita, monkeypatch: pytest.MonkeyPatch) -> FakeNovita:
    monkeypatch.setenv("NOVITA_API_KEY", TEST_KEY)
    monkeypatch.setenv("NOVITA_BASE_URL", fake.url)
    return fake


def run(*args: object) -> int:
    return main([str(a) for a in args])


def test_erase_writes_the_result_and_reports_progress(
    env: FakeNovita, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    env.task_plan = TaskPlan(queued_polls=1, processing_polls=1)
    code = run("erase", files["image"], "--mask", files["mask"], "--output", files["out"])
    err = capsys.readouterr().err
    assert code == 0
    out = Image.open(files["out"])
    assert out.format == "PNG" and out.size == (120, 80)  # format taken from the output's suffix
    assert tuple(np.asarray(out.convert("RGB"))[40, 60]) == FILL
    assert "queued" in err and "processing" in err and "Saved" in err
    assert TEST_KEY not in err


def test_cleanup_and_prompt_only_erase(env: FakeNovita, files: dict[str, Path]) -> None:
    out = files["out"].with_suffix(".webp")
    assert run("cleanup", files["image"], "--mask", files["mask"], "--format", "webp", "-o", out) == 0
    assert Image.open(out).format == "WEBP"
    assert run("erase", files["image"], "--prompt", "dog", "-o", out.with_suffix(".jpg")) == 0
    assert Image.open(out.with_suffix(".jpg")).format == "JPEG"


def test_offline_needs_no_key(files: dict[str, Path]) -> None:
    assert run("local", files["image"], "--mask", files["mask"], "--method", "telea", "-o", files["out"]) == 0
    assert Image.open(files["out"]).size == (120, 80)


@pytest.mark.parametrize(
    ("fault_endpoint", "fault", "plan", "expected"),
    [
        ("task", None, TaskPlan(fail_reason="NSFW content"), "failed: NSFW content"),
        ("cleanup", Fault.status(403, reason="INVALID_API_KEY"), None, "rejected the API key"),
        ("store", Fault.expired(), None, "no longer available"),
    ],
)
def test_remote_failures_exit_1_with_one_line_and_write_nothing(
    env: FakeNovita,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    fault_endpoint: str,
    fault: Fault | None,
    plan: TaskPlan | None,
    expected: str,
) -> None:
    if fault:
        env.fail_next(fault_endpoint, fault)
    if plan:
        env.task_plan = plan
    command = "cleanup" if fault_endpoint == "cleanup" else "erase"
    code = run(command, files["image"], "--mask", files["mask"], "--output", files["out"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and expected in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0] and "Traceback" not in err and TEST_KEY not in err
    assert not files["out"].parent.exists() or list(files["out"].parent.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["erase", "{missing}", "--prompt", "x"], "image not found"),
        (["erase", "{image}", "--output", "{out}"], "describe it in the prompt"),
        (["local", "{image}", "--prompt", "dog", "--mask", "{mask}"], "mask is empty"),
        (["local", "{text}", "--mask", "{mask}"], "could not be read as an image"),
        (["cleanup", "{image}", "--mask", "{text}"], "mask file could not be read"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    (tmp_path / "notes.jpg").write_text("not a photo")
    (tmp_path / "empty.png").write_bytes(encode(np.zeros((80, 120), np.uint8), "PNG"))
    names = {
        "missing": tmp_path / "nope.jpg",
        "image": files["image"],
        "out": files["out"],
        "text": tmp_path / "notes.jpg",
        "mask": tmp_path / "empty.png",
    }
    argv = [a.format(**names) for a in args]
    if "--output" not in argv:
        argv += ["--output", str(files["out"])]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0] and "Traceback" not in err


def test_novita_engines_without_a_key_say_how_to_add_one(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("erase", files["image"], "--prompt", "dog", "-o", files["out"]) == 2
    assert "NOVITA_API_KEY" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["erase", "cleanup"])
def test_without_a_key_the_cli_says_to_set_the_variable_not_to_enter_one(
    command: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # A command line has no key field: "enter one" (the page's wording) would send the user looking for one.
    assert run(command, files["image"], "--mask", files["mask"], "-o", files["out"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and err.startswith(f"error: {command} needs a Novita API key")
    assert "set NOVITA_API_KEY" in err and "enter" not in err and "local" in err
    assert not files["out"].exists()


def test_local_defaults_to_auto_like_the_page_so_a_wide_box_gets_patchmatch(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from novita_ui.ui.texts import quality_of

    assert quality_of(None) == "auto"  # the page's Offline quality starts at Auto
    # The fixture's mask is a 40 px box on a 120 px photo: far wider than a stroke.
    assert run("local", files["image"], "--mask", files["mask"], "-o", files["out"]) == 0
    assert "offline with patchmatch" in capsys.readouterr().err
    asked = tmp_path / "patchmatch.png"
    assert run("local", files["image"], "--mask", files["mask"], "--method", "patchmatch", "-o", asked) == 0
    assert files["out"].read_bytes() == asked.read_bytes()
    # Batch takes the same default: its result is the one --method patchmatch gives.
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(files["image"].read_bytes())
    batch_out = tmp_path / "batch"
    assert (
        run(
            "batch",
            photos,
            "--mask",
            files["mask"],
            "--engine",
            "local",
            "--format",
            "png",
            "--output-dir",
            batch_out,
        )
        == 0
    )
    assert (batch_out / "holiday-cleaned.png").read_bytes() == asked.read_bytes()
    # A thin stroke still gets Telea, as Auto does on the page.
    stroke = tmp_path / "stroke.png"
    stroke.write_bytes(encode(box_mask(120, 80, (60, 10, 62, 70)), "PNG"))
    assert run("local", files["image"], "--mask", stroke, "-o", tmp_path / "stroke-out.png") == 0
    assert "offline with telea" in capsys.readouterr().err


def test_the_spend_cap_holds_on_the_command_line(
    env: FakeNovita,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOVITA_MAX_REQUESTS_PER_HOUR", "0")  # nothing may be spent on this key
    code = run("cleanup", files["image"], "--mask", files["mask"], "--output", files["out"])
    err = capsys.readouterr().err
    assert code == 2 and "0 requests per hour" in err and "Offline" in err, err
    assert env.requests == [] and not files["out"].exists()
    assert run("local", files["image"], "--mask", files["mask"], "--output", files["out"]) == 0  # free


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["cleanup", "photo.jpg", "--output", "x.png"])  # --mask is required
    assert caught.value.code == 2
    assert "--mask" in capsys.readouterr().err


def test_the_module_runs_as_a_real_process(env: FakeNovita, files: dict[str, Path]) -> None:
    environment = {**os.environ, "NOVITA_API_KEY": TEST_KEY, "NOVITA_BASE_URL": env.url}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "novita_ui",
            "cleanup",
            str(files["image"]),
            "--mask",
            str(files["mask"]),
            "--format",
            "jpeg",
            "--output",
            str(files["out"]),
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert Image.open(files["out"]).format == "JPEG"
    assert TEST_KEY not in proc.stderr + proc.stdout
