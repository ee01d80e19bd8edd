"""Sign-in throttling: after a few wrong passwords, a user name and a client address are locked out for a
time that doubles with every further failure. Pure and clock-injectable; the web app wires it to its login.

Every attempt counts as soon as it starts and a success clears the count, so sixty attempts sent at once
get no more guesses than sixty sent one after another. While locked, even the right password is refused.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Record:
    attempts: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class LoginThrottle:
    """Counts sign-in attempts per user name and per client address; :meth:`start` says when to refuse."""

    def __init__(
        self,
        *,
        free_attempts: int = 5,
        first_lockout: float = 1.0,
        max_lockout: float = 900.0,
        forget_after: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_attempts = free_attempts
        self.first_lockout = first_lockout
        self.max_lockout = max_lockout
        self.forget_after = forget_after  # a count with no attempt for this long starts again at zero
        self._clock = clock
        self._records: dict[tuple[str, str], _Record] = {}
        self._lock = threading.Lock()

    def start(self, user: str, address: str) -> float:
        """Begin an attempt: 0 when it may go ahead (it is counted), else the seconds left of the lockout."""
        now = self._clock()
        keys = (("user", user), ("address", address))
        with self._lock:
            self._forget_idle(now)
            records = [self._records.setdefault(key, _Record()) for key in keys]
            for record in records:
                if now - record.last > self.forget_after and record.locked_until <= now:
                    record.attempts = 0  # an old typo does not count against today's sign-in
            wait = max(record.locked_until - now for record in records)
            if wait > 0:
                return wait
            for record in records:
                record.attempts += 1
                record.last = now
                if record.attempts >= self.free_attempts:
                    record.locked_until = now + self.lockout(record.attempts)
        return 0.0

    def succeeded(self, user: str, address: str) -> None:
        """The password was right: both counts start again."""
        with self._lock:
            self._records.pop(("user", user), None)
            self._records.pop(("address", address), None)

    def lockout(self, attempts: int) -> float:
        """Lockout after ``attempts``: first_lockout, doubling per attempt, at most max_lockout."""
        if attempts < self.free_attempts:
            return 0.0
        return min(self.max_lockout, self.first_lockout * 2.0 ** min(attempts - self.free_attempts, 64))

    @staticmethod
    def message(wait: float) -> str:
        """What a refused attempt is told."""
        return f"Too many failed sign-in attempts. Try again in {max(1, math.ceil(wait - 0.001))} s."

    def _forget_idle(self, now: float) -> None:
        if len(self._records) < 1024:
            return
        for key, record in list(self._records.items()):  # bounded memory under a flood of names
            if now - record.last > self.forget_after and record.locked_until <= now:
                del self._records[key]
