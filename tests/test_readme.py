"""The README's and docs/' instructions work as written: the front page's commands, the fake-server
walk-through (docs/cli.md) and the gradio_client example (docs/api-and-mcp.md)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.app_process import free_port, start_app, stop_app
from tests.fake_novita import TEST_KEY, FakeNovita

pytestmark = pytest.mark.slow  # app.py subprocesses, a wheel build or many-megapixel photos

ROOT = Path(__file__).resolve().parents[1]


def _block(document: str, after: str, language: str) -> str:
    """The first fenced code block of ``language`` after the text ``after`` in ``document`` (from ROOT)."""
    text = (ROOT / document).read_text()
    start = text.index(after)
    match = re.search(rf"```{language}\n(.*?)```", text[start:], re.S)
    assert match, f"no {language} block after {after!r} in {document}"
    return match.group(1)


def _ignored_by_git(relative: Path) -> bool:
    """Whether the repository's .gitignore covers ``relative`` (a path from the repository's root)."""
    done = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", str(relative)], check=False)
    return done.returncode == 0


def test_the_fake_server_walk_through_runs_as_written(tmp_path: Path) -> None:
    server_command = _block("docs/cli.md", "In one terminal", "").strip()
    port = free_port()
    assert "--port 8765" in server_command
    argv = server_command.replace("8765", str(port)).split()
    assert argv[0] == ".venv/bin/python"
    server = subprocess.Popen([sys.executable, *argv[1:]], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith("FAKE_NOVITA_URL=")  # it says where it listens
        script = _block("docs/cli.md", "In another", "")
        script = script.replace("8765", str(port)).replace(".venv/bin/python", sys.executable)
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
            with Image.open(tmp_path / "outputs" / "try-it" / name) as image:
                assert image.format == fmt and image.size == (800, 600)
        # Run from a clone, the demo's photo, mask and results would land where git does not see them.
        written = [path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file()]
        assert len(written) == 5 and all(_ignored_by_git(path) for path in written), written
    finally:
        server.terminate()
        server.wait(10)


def test_the_gradio_client_example_runs_as_written(tmp_path: Path) -> None:
    example = _block("docs/api-and-mcp.md", "## From scripts", "python")
    with FakeNovita() as fake:
        # Started as a background job without job control starts it (CI, ``make test &``): SIGINT ignored.
        ignored = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            app = start_app(base_url=fake.url, workdir=tmp_path / "app", server_key=None)
        finally:
            signal.signal(signal.SIGINT, ignored)
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
            # The README: Ctrl+C stops the app, and the session files it kept (these results) are deleted.
            scratch = list((tmp_path / "app" / "gradio-tmp").glob("novita-ui-*"))
            assert scratch and any(path.is_file() for path in scratch[0].rglob("*"))
            app.process.send_signal(signal.SIGINT)
            app.process.wait(60)
            assert not any(path.exists() for path in scratch)
        finally:
            stop_app(app)


def test_the_front_page_commands_run_as_written(tmp_path: Path) -> None:
    commands = _block("README.md", "**On the command line**", "").strip().splitlines()
    assert [line.split()[:2] for line in commands] == [["novita-ui", "local"], ["novita-ui", "batch"]]
    from tests.images import box_mask, encode, photo_like

    for folder in ("photos", "masks"):
        (tmp_path / folder).mkdir()
    (tmp_path / "photo.jpg").write_bytes(encode(photo_like(320, 240)))
    (tmp_path / "photos" / "beach.jpg").write_bytes(encode(photo_like(320, 240, seed=1)))
    for mask in (tmp_path / "mask.png", tmp_path / "masks" / "beach.png"):
        mask.write_bytes(encode(box_mask(320, 240, (100, 80, 180, 160)), "PNG"))
    with FakeNovita() as fake:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "NOVITA_API_KEY": TEST_KEY}
        env["NOVITA_BASE_URL"] = fake.url

        def run(line: str) -> subprocess.CompletedProcess[str]:
            argv = [sys.executable, "-m", "novita_ui", *line.split()[1:]]
            return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)

        for line in commands:
            done = run(line)
            assert done.returncode == 0, done.stderr
        for made in ("photo-cleaned.jpg", "cleaned/beach-cleaned.jpg"):
            with Image.open(tmp_path / made) as image:
                assert image.format == "JPEG" and image.size == (320, 240)
        assert len(fake.requests_to("/v3/async/image-eraser")) == 1  # batch --engine eraser used Novita
        assert all((tmp_path / "cleaned" / name).is_file() for name in ("report.json", "report.csv"))
        again = run(commands[1])  # "a second run skips what is done"
        assert again.returncode == 0 and "Skipping 1 already cleaned" in again.stderr, again.stderr
        assert len(fake.requests_to("/v3/async/image-eraser")) == 1
