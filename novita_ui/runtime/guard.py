"""Spend guard: at most N Novita requests per sliding hour on the server's own key.

A public deployment (a Hugging Face Space, say) with ``NOVITA_API_KEY`` set lets strangers spend the owner's
credit. ``--max-requests-per-hour N`` (or ``NOVITA_MAX_REQUESTS_PER_HOUR``, for every front end) bounds that:
every POST attempt made with the server key takes a slot for one hour, each retry included (any attempt may
bill: a task, a cleanup); polls and downloads are free and never counted, nor are requests made with a
visitor's own key. ``Service.remove`` decides what counts; the client charges the guard right before each
POST (``NovitaClient.erase(..., options=CallOptions(budget=guard))``): a removal refused before anything was
sent takes none.

Thread-safe (one lock, no awaits inside), so it serves Gradio's worker threads and its event loop alike.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]
WINDOW_SECONDS = 3600.0


class SpendGuard:
    """A sliding-window counter of server-key requests. ``limit=None`` never refuses."""

    def __init__(
        self, limit: int | None, *, window: float = WINDOW_SECONDS, clock: Clock = time.monotonic
    ) -> None:
        if limit is not None and limit < 0:
            raise ValueError("the request limit cannot be negative")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._stamps and now - self._stamps[0] >= self.window:
            self._stamps.popleft()

    def try_acquire(self) -> bool:
        """Take a slot if one is free; False when the hour's budget is spent."""
        if self.limit is None:
            return True
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._stamps) >= self.limit:
                return False
            self._stamps.append(now)
            return True

    def refund(self) -> None:
        """Give back the most recent slot (its request never reached Novita)."""
        if self.limit is None:
            return
        with self._lock:
            if self._stamps:
                self._stamps.pop()

    def used(self) -> int:
        """Slots taken in the current window."""
        with self._lock:
            self._expire(self._clock())
            return len(self._stamps)

    def seconds_until_free(self) -> float:
        """How long until the next slot frees up (0 when one is free now)."""
        if self.limit is None:
            return 0.0
        with self._lock:
            now = self._clock()
            self._expire(now)
            if len(self._stamps) < self.limit:
                return 0.0
            if not self._stamps:  # limit == 0: nothing will ever free up
                return math.inf
            return max(0.0, self._stamps[0] + self.window - now)

    def refusal(self) -> str:
        """The user-facing sentence for a refused request: what happened and what to do next."""
        wait = self.seconds_until_free()
        when = "later" if math.isinf(wait) else f"in about {max(1, math.ceil(wait / 60))} min"
        return (
            f"This server's shared Novita budget ({self.limit} requests per hour) is used up. "
            f"Enter your own Novita API key, switch to the Offline engine, or try again {when}."
        )
