"""The one retry policy for every HTTP call the client makes (API calls and result downloads).

Three parts: an *attempt* function that makes one try and returns its value or a :class:`Failure`; the
*decision* :func:`should_retry` (method, failure) -> retry or not; and :func:`retry_delay`. :func:`run` puts
them together, tells the user about each retry and lets a budget veto every POST attempt before it is sent.
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from novita_ui.errors import NovitaUIError

log = logging.getLogger("novita_ui.novita.client")

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Failure:
    """One failed attempt, already mapped to the error the user would read if it is the last."""

    error: NovitaUIError
    summary: str  # what went wrong, for the retry notice: "Novita is busy (503)"
    status: int | None = None  # the HTTP status, when the server answered
    sent: bool = False  # the request may have reached the server (read timeout, connection dropped)
    retry_after: str | None = None


def should_retry(method: str, failure: Failure) -> bool:
    """The decision: may this failed attempt of ``method`` be repeated?"""
    # GETs are harmless to repeat. A POST that creates a paid task is retried only when Novita cannot have
    # accepted it: 429 and 5xx (Novita's docs ask for backoff on them; they are answered before a task exists)
    # and failures to connect (nothing was sent). A read timeout or a connection dropped after the body went
    # out may hide an accepted task: retrying could bill the user twice, so those surface as errors instead.
    if failure.status is not None:
        return failure.status in RETRYABLE_STATUSES
    return method != "POST" or not failure.sent


def retry_delay(
    attempt: int, retry_after: str | None, *, base: float, cap: float, rand: float, now: float | None = None
) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based).

    ``Retry-After`` wins when present, as seconds or as an HTTP date, capped at ``cap``; otherwise
    exponential backoff with jitter (``rand`` in [0, 1) scales the delay between 50 % and 100 %).
    """
    if retry_after:
        value = retry_after.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                seconds = math.nan
            else:
                seconds = when - (time.time() if now is None else now)
        if math.isfinite(seconds):
            return float(min(max(seconds, 0.0), cap))
    backoff: float = min(cap, base * 2.0 ** (attempt - 1))
    return backoff * (0.5 + 0.5 * rand)


def seconds_text(seconds: float) -> str:
    """``2 s``, ``0.4 s``: a wait as the user reads it."""
    return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"


@dataclass(frozen=True)
class Policy:
    """How many attempts, how long between them, and how to wait."""

    attempts: int
    base: float
    cap: float
    sleep: Sleep
    rand: Callable[[], float]


async def run(
    policy: Policy,
    method: str,
    what: str,
    attempt: Callable[[], Awaitable[T | Failure]],
    *,
    notify: Callable[[str], None] | None = None,
    before_post: Callable[[], None] | None = None,
) -> T:
    """Call ``attempt`` until it succeeds, the decision says stop, or the attempts run out.

    ``before_post`` runs before every POST attempt (each one may bill) and may raise to stop; ``notify``
    hears one sentence per retry.
    """
    for number in range(1, policy.attempts + 1):
        if before_post is not None and method == "POST":
            before_post()
        outcome = await attempt()
        if not isinstance(outcome, Failure):
            return outcome
        log.info(
            "novita %s %s failed (attempt %d/%d): %s", method, what, number, policy.attempts, outcome.error
        )
        if number == policy.attempts or not should_retry(method, outcome):
            raise outcome.error
        delay = retry_delay(number, outcome.retry_after, base=policy.base, cap=policy.cap, rand=policy.rand())
        if notify is not None:
            notify(
                f"{outcome.summary}; trying again in {seconds_text(delay)}, "
                f"attempt {number + 1} of {policy.attempts}"
            )
        await policy.sleep(delay)
    raise AssertionError("unreachable")  # the loop always returns or raises
