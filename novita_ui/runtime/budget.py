"""A memory budget for image work: admission by estimated decoded size, first come first served.

A 12 KB PNG can decode to 300 MB, so what a request will cost is read from the header (pixels) before
anything is decoded, and the request waits until that much of the budget is free. A request bigger than the
whole budget is refused with a message at once: it could never run.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from novita_ui.errors import InputError

# Bytes per pixel at the peak of each step (bench_large measured ~7-10 for a remote removal's whole run):
# Pillow keeps RGB in 4 bytes a pixel, plus our 3-byte array(s), plus the output encoder's own copy; the mask
# costs its own bytes and a working copy. The offline engine also holds its result beside the photo.
PHOTO_BYTES_PER_PIXEL = {"remote": 10, "local": 12}
MASK_BYTES_PER_PIXEL = 2


def estimate(pixels: int, step: str) -> int:
    """Bytes one step of a removal may hold at its peak, from the photo's pixel count alone."""
    return pixels * (PHOTO_BYTES_PER_PIXEL[step] + MASK_BYTES_PER_PIXEL)


class MemoryBudget:
    """At most ``limit`` estimated bytes of image work at once; the rest wait in arrival order."""

    def __init__(self, limit: int, *, max_wait: float = 600.0) -> None:
        self.limit = limit
        self.max_wait = max_wait
        self.in_use = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()
        prefer_mmap()

    @property
    def waiting(self) -> int:
        """How many requests are waiting for room."""
        return len(self._waiting)

    @asynccontextmanager
    async def admit(self, need: int, on_wait: Callable[[], None] | None = None) -> AsyncIterator[None]:
        """Hold ``need`` bytes of the budget for the block; wait (``on_wait`` is called once) when full."""
        if need > self.limit:
            raise InputError(
                f"This photo needs about {_gb(need)} of memory to process, more than this server allows "
                f"for one photo ({_gb(self.limit)}). Use a photo with fewer megapixels."
            )
        if self._waiting or self.in_use + need > self.limit:
            await self._wait(need, on_wait)
        else:
            self.in_use += need
        try:
            yield
        finally:
            self.in_use -= need
            self._wake()
            if self.in_use == 0:
                trim()

    async def _wait(self, need: int, on_wait: Callable[[], None] | None) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (need, turn)
        self._waiting.append(entry)
        if on_wait is not None:
            on_wait()
        try:
            await asyncio.wait_for(asyncio.shield(turn), self.max_wait)
        except BaseException as error:  # cancelled (the page went away) or waited too long
            if turn.done() and not turn.cancelled():
                self.in_use -= need  # granted just as we gave up: hand it on
            else:
                self._waiting.remove(entry)
            self._wake()
            if isinstance(error, TimeoutError):
                raise InputError(
                    "The server is busy with other large photos. Try again in a few minutes."
                ) from None
            raise

    def _wake(self) -> None:
        """Admit waiters in arrival order while the first fits (no overtaking: big photos never starve)."""
        while self._waiting and self.in_use + self._waiting[0][0] <= self.limit:
            need, turn = self._waiting.popleft()
            self.in_use += need
            turn.set_result(None)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc, where there is one (Linux); elsewhere the allocator tweaks below are skipped."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


@functools.cache
def prefer_mmap() -> None:
    """Serve allocations from 4 MB up (Pillow's 16 MB blocks, our arrays) from mmap, once per process.

    glibc raises its mmap threshold as big blocks are freed, after which Pillow's blocks land on the heap
    and stay there: the app kept 1 GB more than idle after a load of 100 MP photos (bench_memory).
    """
    libc = _libc()
    if libc is not None:
        libc.mallopt(-3, 4 * 2**20)  # M_MMAP_THRESHOLD; a fixed value also stops the raising


def trim() -> None:
    """Hand freed heap pages back to the system once no image work is running."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _gb(size: int) -> str:
    return f"{size / 2**30:.1f} GB"
