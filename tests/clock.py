"""Time that moves only when asked: rate limiters, deadlines and back-offs tested without real seconds."""

from __future__ import annotations


class FakeClock:
    """A clock that only moves when someone sleeps on it (or a test moves ``now``)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
