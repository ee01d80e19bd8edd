"""The package installs as users install it: a wheel with every subpackage, its dependencies declared
once (requirements.txt, read by pyproject), and a ``novita-ui`` command that runs the CLI and the web app."""

from __future__ import annotations

import contextlib
import email
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

import novita_ui
from tests.app_process import free_port
from tests.images import box_mask, encode, photo_like

pytestmark = pytest.mark.slow  # app.py subprocesses, a wheel build or many-megapixel photos

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from the files a commit would hold (not ignored ones), installed in a folder alone."""
    work = tmp_path_factory.mktemp("package")
    source = work / "source"
    listing = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    tracked = subprocess.run(listing, cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    (source / "stray").mkdir()  # a clone with any extra folder once broke setuptools' flat-layout discovery
    (source / "stray" / "notes.py").write_text("")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (work / "dist").glob("novita_ui-*.whl")
    target = work / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True)
    return wheel


def _run(wheel: Path, *args: str, **kwargs):  # type: ignore[no-untyped-def]
    """``novita-ui ARGS`` from the installed folder, in a folder that is not the repository."""
    site = wheel.parent.parent / "site"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOVITA_", "GRADIO_"))}
    env.update(PYTHONPATH=str(site), GRADIO_ANALYTICS_ENABLED="False", **kwargs.pop("env", {}))
    return [str(site / "bin" / "novita-ui"), *args], env


def test_the_wheel_holds_every_layer_and_declares_what_requirements_txt_lists(installed: Path) -> None:
    with zipfile.ZipFile(installed) as wheel:
        names = set(wheel.namelist())
        meta = email.message_from_bytes(wheel.read(f"novita_ui-{novita_ui.__version__}.dist-info/METADATA"))
        scripts = wheel.read(f"novita_ui-{novita_ui.__version__}.dist-info/entry_points.txt").decode()
    for module in (
        "novita/client.py",
        "pixels/jpegedit.py",
        "runtime/workers.py",
        "ui/events/removal.py",
        "ui/server/protect.py",
        "ui/assets/page.py",
        "serve.py",
        "py.typed",
    ):
        assert f"novita_ui/{module}" in names, module
    assert not any(name.startswith(("tests/", "benchmarks/", "stray/")) for name in names)
    wanted = [
        line.split("#")[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    declared = meta.get_all("Requires-Dist") or []
    assert len(declared) == len(wanted) and all(
        any(d.replace(" ", "").startswith(w.split(">")[0].split("<")[0].split("[")[0]) for d in declared)
        for w in wanted
    )
    assert meta["Version"] == novita_ui.__version__
    assert "novita-ui = novita_ui.cli:entry" in scripts


def test_the_installed_command_cleans_a_photo_offline(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(encode(photo_like(320, 240)))
    (tmp_path / "mask.png").write_bytes(encode(box_mask(320, 240, (100, 80, 160, 140)), "PNG"))
    argv, env = _run(installed, "local", "photo.jpg", "--mask", "mask.png", "-o", "clean.png")
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "clean.png").read_bytes().startswith(b"\x89PNG")
    argv, env = _run(installed, "--help")
    helped = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "serve" in helped.stdout and "batch" in helped.stdout
    argv, env = _run(installed, "serve", "--help")
    served = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert served.returncode == 0 and "--port" in served.stdout and "novita-ui serve" in served.stdout


def test_the_installed_command_alone_starts_the_web_app(installed: Path, tmp_path: Path) -> None:
    port = free_port()
    argv, env = _run(installed, env={"GRADIO_SERVER_PORT": str(port), "GRADIO_TEMP_DIR": str(tmp_path)})
    app = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and app.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                if page.status_code == 200:
                    assert "novita" in page.text.lower()
                    return
            time.sleep(0.2)  # polling the server's startup, not pacing the test
        said = app.stderr.read().decode(errors="replace") if app.stderr else ""
        raise AssertionError(f"novita-ui did not serve the page: {said}")
    finally:
        app.terminate()
        app.wait(30)
