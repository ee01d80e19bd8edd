"""Image work in worker processes (the web app's default): same results as in threads, a crashed worker is
a message and not a dead server, and the workers yield the CPU to the web server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from novita_ui.errors import NovitaUIError
from novita_ui.runtime.workers import WORKER_NICENESS, ImageWorkers
from novita_ui.service import RemoveRequest, Service
from tests.conftest import fast_settings
from tests.fake_novita import FakeNovita
from tests.images import box_mask, encode, photo_like


@pytest.fixture
async def in_processes(fake: FakeNovita) -> AsyncIterator[Service]:
    service = Service(fast_settings(fake.url), processes=True, workers=1)
    yield service
    await service.aclose()


@pytest.mark.slow  # starts worker processes
async def test_removals_in_worker_processes_give_the_same_file_as_in_threads(
    fake: FakeNovita, service: Service, in_processes: Service
) -> None:
    assert in_processes.workers.processes and not service.workers.processes
    photo = encode(photo_like(640, 480, seed=3))
    mask = encode(box_mask(640, 480, (200, 150, 320, 260)), "PNG")
    for engine in ("local", "cleanup"):
        request = RemoveRequest(engine=engine, image=photo, mask_file=mask, output_format="jpeg")
        threaded = await service.remove(request)
        separate = await in_processes.remove(request)
        assert separate.data == threaded.data and separate.size == (640, 480), engine
    assert set(separate.timings) >= {"prepare_s", "engine_s", "finish_s", "total_s"}


async def test_a_worker_that_dies_is_a_clear_message_and_the_next_photo_still_works() -> None:
    workers = ImageWorkers(1, processes=True)
    try:
        with pytest.raises(NovitaUIError, match=r"ran out of memory.*Try again"):
            await workers.run(os._exit, 9)  # as the kernel's out-of-memory killer would end it
        assert await workers.run(os.getpid) != os.getpid()
    finally:
        workers.close()


async def test_worker_processes_yield_the_cpu_to_the_web_server() -> None:
    workers = ImageWorkers(1, processes=True)
    try:
        assert await workers.run(os.nice, 0) == min(19, os.nice(0) + WORKER_NICENESS)
    finally:
        workers.close()


@pytest.mark.slow  # starts app.py
def test_the_web_server_does_image_work_in_niced_worker_processes(tmp_path: Path) -> None:
    import psutil

    from tests.app_process import start_app, stop_app

    server = start_app(base_url="http://127.0.0.1:9", workdir=tmp_path)
    try:
        children = psutil.Process(server.process.pid).children()
        workers = [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]
        assert workers and all(w.nice() >= WORKER_NICENESS for w in workers), workers
    finally:
        stop_app(server)


@pytest.mark.slow  # starts app.py
def test_worker_processes_end_when_the_server_is_killed(tmp_path: Path) -> None:
    import psutil

    from tests.app_process import start_app

    server = start_app(base_url="http://127.0.0.1:9", workdir=tmp_path)
    children = psutil.Process(server.process.pid).children()
    server.process.kill()  # SIGKILL: no clean shutdown tells the pool anything
    server.process.wait(10)
    # A deadline, not a pause: they end within a second of noticing, but a starved machine (nice +10 under
    # a load of 14) took over 15 s to let them run at all.
    _gone, alive = psutil.wait_procs(children, timeout=60)
    assert not alive, f"worker processes outlived the killed server: {alive}"
