"""The README's instructions work as written: the fake-server walk-through and the gradio_client example."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.browser.helpers import free_port, start_app, stop_app
from tests.fake_novita import TEST_KEY, FakeNovita

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _block(after: str, language: str) -> str:
    """The first fenced code block of ``language`` after the text ``after``."""
    start = README.index(after)
    match = re.search(rf"```{language}\n(.*?)```", README[start:], re.S)
    assert match, f"no {language} block after {after!r}"
    return match.group(1)


def test_the_fake_server_walk_through_runs_as_written(tmp_path: Path) -> None:
    server_command = _block("In one terminal", "").strip()
    port = free_port()
    assert "--port 8765" in server_command
    argv = server_command.replace("8765", str(port)).split()
    assert argv[0] == ".venv/bin/python"
    server = subprocess.Popen([sys.executable, *argv[1:]], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith("FAKE_NOVITA_URL=")  # it says where it listens
        script = (
            _block("In another", "").replace("8765", str(port)).replace(".venv/bin/python", sys.executable)
        )
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        )
        assert done.returncode == 0, done.stderr
        for name, fmt in (
            ("photo-cleaned.png", "PNG"),
            ("photo-cleaned.jpg", "JPEG"),
            ("photo-offline.webp", "WEBP"),
        ):
            with Image.open(tmp_path / name) as image:
                assert image.format == fmt and image.size == (800, 600)
    finally:
        server.terminate()
        server.wait(10)


def test_the_gradio_client_example_runs_as_written(tmp_path: Path) -> None:
    example = _block("### From scripts", "python")
    with FakeNovita() as fake:
        app = start_app(base_url=fake.url, workdir=tmp_path / "app", server_key=None)
        try:
            from tests.images import box_mask, encode, photo_like

            (tmp_path / "photo.jpg").write_bytes(encode(photo_like(300, 200)))
            (tmp_path / "mask.png").write_bytes(encode(box_mask(300, 200, (100, 50, 200, 150)), "PNG"))
            code = example.replace("http://127.0.0.1:7860/", app.url).replace('"sk_..."', repr(TEST_KEY))
            done = subprocess.run(
                [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, done.stderr
            printed = Path(done.stdout.strip().splitlines()[-1])
            with Image.open(printed) as image:
                assert image.format == "JPEG" and image.size == (300, 200)
            assert len(fake.requests_to("/v3/async/image-eraser")) == 1
            assert len(fake.requests_to("/v3/cleanup")) == 1
        finally:
            stop_app(app)
