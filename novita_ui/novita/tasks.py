"""Novita's asynchronous tasks: what a task-result answer says (read tolerantly), and when to poll next."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from novita_ui.config import Settings

# "waiting": for room in the memory budget, before anything is sent (service.py).
Status = Literal["created", "queued", "processing", "succeeded", "failed", "unknown", "retrying", "waiting"]

_STATUSES: dict[str, Status] = {
    "TASK_STATUS_QUEUED": "queued",
    "TASK_STATUS_PROCESSING": "processing",
    "TASK_STATUS_SUCCEED": "succeeded",
    "TASK_STATUS_FAILED": "failed",
}


@dataclass(frozen=True)
class TaskProgress:
    """One observation of a request in flight: a task's state, or a sentence about it (``note``)."""

    task_id: str | None  # None before Novita created a task (a retried submit)
    status: Status
    percent: float | None = None  # 0-100 when Novita reports it
    eta: float | None = None  # seconds, Novita's own estimate
    note: str | None = None  # for the user: a retry and its wait, a task created


ProgressCallback = Callable[[TaskProgress], None]


@dataclass(frozen=True)
class TaskState:
    """What one task-result answer says. Strings come raw from upstream: scrub before showing them."""

    status: Status
    percent: float | None
    eta: float | None
    reason: str
    image_url: str | None


def read_task(answer: dict[str, Any]) -> TaskState:
    """Read a task-result answer, tolerating missing parts and numbers sent as strings."""
    task = answer.get("task")
    task = task if isinstance(task, dict) else {}
    images = answer.get("images")
    first = images[0] if isinstance(images, list) and images else None
    url = first.get("image_url") if isinstance(first, dict) else None
    return TaskState(
        status=_STATUSES.get(str(task.get("status")).strip().upper(), "unknown"),
        percent=number(task.get("progress_percent")),
        eta=number(task.get("eta")),
        reason=str(task.get("reason") or "").strip(),
        image_url=url.strip()
        if isinstance(url, str) and url.strip().startswith(("http://", "https://"))
        else None,
    )


def number(value: object) -> float | None:
    """A finite number from an int, a float or a numeric string; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)  # type: ignore[arg-type]  # Novita sends ints, floats or numeric strings
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


class PollSchedule:
    """When to poll a task next.

    The first poll goes early (fast tasks are done at once); after that Novita's ETA says when (sleep long
    early, poll briskly near the predicted end), each ETA that proved wrong lengthens the shortest wait, a
    failed poll backs off exponentially, and whatever happens poll number ``n`` is never sent before
    ``n / poll_rate`` seconds after the task was created: at most ``poll_rate`` polls per second on average.
    """

    def __init__(self, settings: Settings, created: float) -> None:
        self._settings = settings
        self._created = created
        self._polls = 0
        self._interval = settings.poll_min_interval
        self._expected_end: float | None = None
        self._misses = 0

    def first_wait(self) -> float:
        """Seconds from the task's creation to its first poll."""
        return self._settings.poll_min_interval

    def after_poll(self, now: float, eta: float | None) -> float:
        """A poll answered with the task still running: seconds until the next one."""
        low, high = self._settings.poll_min_interval, self._settings.poll_max_interval
        self._polls += 1
        if self._expected_end is not None and now >= self._expected_end:
            self._misses += 1  # the last ETA was wrong: trust the next one less
        self._expected_end = now + eta if eta is not None and eta > 0 else None
        if eta is not None and eta > 0:
            wanted = max(low, eta - 1.0)
        else:
            self._interval = min(high, self._interval * 1.5)
            wanted = self._interval
        wanted = min(high, max(wanted, low * 1.5**self._misses))
        return self._paced(now, wanted)

    def after_failure(self, now: float, delay: float) -> float:
        """A poll failed (the task still exists): wait ``delay``, or longer if the pace demands it."""
        self._polls += 1
        return self._paced(now, delay)

    def _paced(self, now: float, wanted: float) -> float:
        earliest = self._created + (self._polls + 1) / self._settings.poll_rate
        return max(wanted, earliest - now, 0.0)
