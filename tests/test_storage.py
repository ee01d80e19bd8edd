"""Crash-safe results on disk: a process killed mid-save never leaves an empty or partial file under a final
name, and the next start clears its temporary files (a real subprocess, killed with SIGKILL)."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from novita_ui.config import Settings
from novita_ui.runtime import storage
from novita_ui.ui import App, Options

ROOT = Path(__file__).resolve().parents[1]
NAME = "photo-cleaned.png"
SIZE = 8 * 2**20
# Saves the same 8 MB result over and over, as a busy server would, printing each name it got.
WRITER = """
import sys
from novita_ui.runtime import storage
data = bytes(range(256)) * (int(sys.argv[2]) // 256)
print("ready", flush=True)
while True:
    print(storage.save_result(sys.argv[1], "photo-cleaned.png", data, {"engine": "local"}).name, flush=True)
"""


def _kill_mid_save(folder: Path, saves_first: int, delay: float) -> None:
    """Start the writer, let it finish ``saves_first`` saves, then SIGKILL it ``delay`` s into the next."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), str(SIZE)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        for _ in range(saves_first):
            child.stdout.readline()
        time.sleep(delay)  # varied, so the kills land at different points of a save
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)


def _complete_images(folder: Path) -> list[str]:
    """The final names in folder; every one must hold the whole result and a sidecar, if any, must parse."""
    expected = bytes(range(256)) * (SIZE // 256)
    images = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.suffix == ".json":
            record = json.loads(path.read_text())  # a partial sidecar would not parse
            assert record["file"] == path.name.removesuffix(".json")
            assert (folder / record["file"]).exists(), "notes without a result"
            continue
        assert path.stat().st_size == SIZE, f"{path.name}: {path.stat().st_size} bytes under a final name"
        assert path.read_bytes() == expected, f"{path.name} is not the complete result"
        images.append(path.name)
    return images


def _restart(folder: Path, tmp_path: Path) -> None:
    """What a restarted server does with --output-dir at start-up."""
    app = App(Settings.load(env={}), Options(scratch_dir=tmp_path / "scratch", output_dir=folder))
    asyncio.run(app.aclose())


def test_a_server_killed_mid_save_leaves_no_empty_or_partial_file_under_a_final_name(tmp_path):
    rng = random.Random(13)
    for round_ in range(8):
        folder = tmp_path / f"out-{round_}"
        folder.mkdir()
        _kill_mid_save(folder, saves_first=round_ % 3, delay=rng.uniform(0, 0.04))
        images = _complete_images(folder)
        _restart(folder, tmp_path)
        assert not [p.name for p in folder.glob(".*")], "a crash's temporary files outlived the restart"
        # Names are handed out in order with no hole: the next result takes the first free one.
        names = [NAME] + [f"photo-cleaned-{n}.png" for n in range(2, len(images) + 2)]
        assert images == sorted(names[: len(images)])
        assert storage.save_result(folder, NAME, b"next", {}).name == names[len(images)]


def test_clean_up_spares_a_file_a_live_writer_is_still_writing(tmp_path):
    temp = storage._write_temp(tmp_path / NAME, b"half")
    with open(temp, "rb") as held:
        assert storage._try_lock(held.fileno())  # a live writer holds the lock
        assert storage.remove_partial_files(tmp_path) == []
    assert storage.remove_partial_files(tmp_path) == [temp] and not temp.exists()
