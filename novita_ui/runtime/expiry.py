"""Run small clean-up jobs at their time, on one background thread: e.g. delete an API hand-off file two
minutes after it was made, whether or not anything else happens on the server meanwhile."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Expiry:
    """A timer for many jobs: :meth:`after` schedules one; the thread starts with the first job.

    ``clock`` and the condition's wait use the same monotonic seconds; tests pass short delays.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._jobs: list[tuple[float, int, Callable[[], None]]] = []  # a heap: soonest first
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def after(self, seconds: float, job: Callable[[], None]) -> None:
        """Run ``job`` once, ``seconds`` from now (a job that raises is logged and dropped)."""
        with self._wake:
            if self._closed:
                return
            heapq.heappush(self._jobs, (self._clock() + seconds, next(self._order), job))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="novita-ui-expiry", daemon=True)
                self._thread.start()
            self._wake.notify()

    def close(self) -> None:
        """Stop the thread; jobs not yet due are dropped (their owner cleans up as a whole)."""
        with self._wake:
            self._closed = True
            self._jobs.clear()
            self._wake.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (not self._jobs or self._jobs[0][0] > self._clock()):
                    self._wake.wait(self._jobs[0][0] - self._clock() if self._jobs else None)
                if self._closed:
                    return
                job = heapq.heappop(self._jobs)[2]
            try:
                job()
            except Exception:  # one failed clean-up must not stop the others
                log.exception("a scheduled clean-up failed")
