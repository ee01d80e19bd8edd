"""Where CPU-heavy image work runs: a pool of threads (the CLI, tests) or of worker processes (the web app).

Decoding, filling and encoding a 100 MP photo holds Python's GIL in stretches of tens of milliseconds
(Pillow's ``tobytes`` and encoders, numpy copies). In threads beside a web server that is enough to starve
it: with two such jobs, a page that needs ~50 ms of Python waited 0.2-3 s (``bench_memory``). Worker
processes have GILs of their own, and run at a lower priority, so the server answers first. Functions
sent to a process must be module-level and their arguments picklable; the API key is never among them.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from novita_ui.errors import NovitaUIError
from novita_ui.runtime import budget

T = TypeVar("T")
log = logging.getLogger(__name__)
# Image work yields the CPU to the web server's own threads (pages, uploads, downloads): nice +10.
WORKER_NICENESS = 10
CRASHED = (
    "The server could not finish this photo: the process working on it stopped (most likely it ran out "
    "of memory). Try again; if it keeps happening, use a photo with fewer megapixels."
)


class ImageWorkers:
    """At most ``count`` image jobs at once, in threads or (``processes=True``) in worker processes."""

    def __init__(self, count: int, *, processes: bool = False, preload: tuple[str, ...] = ()) -> None:
        self.count = count
        self.processes = processes
        # Modules each worker process imports as it starts: the first photo a worker gets then starts at
        # once (importing the service, OpenCV and PatchMatch took 0.6-0.8 s, inside someone's click).
        self.preload = preload
        self._pool = self._new_pool()

    def _new_pool(self) -> Executor:
        if not self.processes:
            return ThreadPoolExecutor(max_workers=self.count, thread_name_prefix="offline")
        # spawn, not fork: forking a server that runs threads can copy a lock held by another thread.
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(
            self.count, mp_context=context, initializer=_start_worker, initargs=(self.preload,)
        )

    def warm_up(self) -> None:
        """Start the worker processes now (they import numpy, OpenCV, Pillow), not on the first photo."""
        if self.processes:
            for _ in range(self.count):
                self._pool.submit(os.getpid)

    async def run(self, func: Callable[..., T], *args: object) -> T:
        """``func(*args)`` in the pool, awaited off the event loop; a crashed worker becomes a message (for
        every job the broken pool held: Python's process pool fails them all)."""
        loop = asyncio.get_running_loop()
        if not self.processes:
            return await loop.run_in_executor(self._pool, func, *args)
        pool = self._pool
        try:
            return await loop.run_in_executor(pool, _in_worker, func, *args)
        except BrokenProcessPool:
            log.error("an image worker process died (out of memory?); starting new ones")
            if self._pool is pool:  # the first to notice replaces it; the others just report
                self._pool = self._new_pool()
            raise NovitaUIError(CRASHED) from None

    def close(self) -> None:
        """Stop the pool; queued jobs are dropped."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _start_worker(preload: tuple[str, ...] = ()) -> None:
    """In each worker process: a lower priority, big blocks from mmap (freed memory goes back), an end
    when the server goes (a killed server's pool never tells its workers), and the modules its jobs need."""
    os.nice(WORKER_NICENESS)
    budget.prefer_mmap()
    server = os.getppid()
    threading.Thread(target=_exit_with, args=(server,), name="exit-with-server", daemon=True).start()
    for name in preload:
        importlib.import_module(name)


def _exit_with(server: int) -> None:
    """Poll the parent once a second; once it is gone (re-parented), end this worker at once."""
    while os.getppid() == server:
        time.sleep(1.0)
    os._exit(0)


def _in_worker(func: Callable[..., T], *args: object) -> T:
    """Run one job in a worker process, then hand the memory it freed back to the system."""
    try:
        return func(*args)
    finally:
        budget.trim()
