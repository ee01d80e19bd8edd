"""The memory budget (issue 13, finding 1): admission by decoded size, nothing held while Novita works.

Decoded pixels are numpy arrays, which tracemalloc traces, so "how much is decoded right now" is measured
directly rather than through the process's resident size.
"""

from __future__ import annotations

import asyncio
import io
import threading
import tracemalloc
import weakref
from collections.abc import Awaitable, Iterator

import pytest
from PIL import Image

from novita_ui.errors import AuthenticationError, InputError
from novita_ui.novita.client import TaskProgress
from novita_ui.pixels import imaging
from novita_ui.runtime.budget import MemoryBudget, estimate
from novita_ui.service import RemoveRequest, Service
from novita_ui.ui import progress_text
from tests.conftest import fast_settings
from tests.fake_novita import FakeNovita
from tests.images import box_mask

MB = 2**20


def _bitmap(side: int) -> bytes:
    """A 1-bit PNG of side x side px: a few KB on disk, 3 bytes a pixel once decoded to RGB."""
    buffer = io.BytesIO()
    Image.new("1", (side, side), 1).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


async def _peak_while(coro: Awaitable[object], fake: FakeNovita, endpoint: str) -> tuple[int, object]:
    """Run ``coro``; return the traced memory seen while a request sat at the fake's ``endpoint``."""
    seen = 0
    task = asyncio.ensure_future(coro)
    while not task.done():
        if fake.requests_to(endpoint):
            seen = max(seen, tracemalloc.get_traced_memory()[0])
        await asyncio.sleep(0.02)
    try:
        return seen, task.result()
    except Exception as error:
        return seen, error


async def test_a_request_refused_by_novita_held_nothing_decoded_and_keeps_nothing(
    fake: FakeNovita, traced: None
) -> None:
    # The issue: a 12 KB PNG at the 100 MP limit was decoded (1.2-2 GB) and held while Novita rejected
    # the junk key, and afterwards. Here 9 MP: 27 MB of RGB, 9 MB of mask.
    fake.latency = 0.5
    service = Service(fast_settings(fake.url, api_key="sk_junk"))
    request = RemoveRequest(
        engine="cleanup", image=_bitmap(3000), mask=box_mask(3000, 3000, (10, 10, 50, 50))
    )
    baseline = tracemalloc.get_traced_memory()[0]
    try:
        during, error = await _peak_while(service.remove(request), fake, "/v3/cleanup")
    finally:
        await service.aclose()
    assert isinstance(error, AuthenticationError)
    assert during - baseline < 10 * MB  # only compressed bytes while Novita works
    held = tracemalloc.get_traced_memory()[0] - baseline
    assert held < 10 * MB  # the error (and its traceback) keep no pixels alive


async def test_concurrent_requests_stay_within_the_budget_and_wait_their_turn(
    fake: FakeNovita, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four 9 MP requests at once; the budget fits one of them at a time. Counted: decoded photos alive at
    # once (before the budget, all four were decoded at once and held while Novita worked).
    fake.latency = 0.3
    one = estimate(9_000_000, "remote")
    service = Service(fast_settings(fake.url, memory_budget_mb=one // MB + 1))
    alive, most, lock = [0], [0], threading.Lock()
    decode = imaging.open_photo

    def forget() -> None:
        with lock:
            alive[0] -= 1

    def counted(data: bytes) -> imaging.Photo:
        photo = decode(data)
        with lock:
            alive[0] += 1
            most[0] = max(most[0], alive[0])
        weakref.finalize(photo, forget)
        return photo

    monkeypatch.setattr(imaging, "open_photo", counted)
    waits: list[TaskProgress] = []
    data, mask = _bitmap(3000), box_mask(3000, 3000, (10, 10, 50, 50))

    async def remove() -> None:
        request = RemoveRequest(engine="cleanup", image=data, mask=mask, output_format="jpeg")
        await service.remove(request, on_progress=waits.append)

    try:
        await asyncio.gather(*(remove() for _ in range(4)))
    finally:
        await service.aclose()
    assert most[0] == 1 and alive[0] == 0
    assert len(fake.requests_to("/v3/cleanup")) == 4  # every request ran in the end
    assert [w.status for w in waits].count("waiting") >= 3
    assert progress_text(waits[0]).startswith("Waiting for memory")


async def test_a_photo_bigger_than_the_whole_budget_is_refused_before_decoding(fake: FakeNovita) -> None:
    service = Service(fast_settings(fake.url, memory_budget_mb=64))
    request = RemoveRequest(engine="local", image=_bitmap(3000), mask=box_mask(3000, 3000, (10, 10, 50, 50)))
    try:
        with pytest.raises(InputError, match=r"needs about .* of memory .* fewer megapixels"):
            await service.remove(request)
    finally:
        await service.aclose()
    assert fake.requests == []


async def test_the_budget_admits_in_order_and_a_cancelled_waiter_gives_its_turn_back() -> None:
    budget = MemoryBudget(100)
    order: list[str] = []

    async def use(name: str, need: int, hold: asyncio.Event) -> None:
        async with budget.admit(need):
            order.append(name)
            await hold.wait()

    first, second, third = asyncio.Event(), asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(use("a", 60, first))
    await asyncio.sleep(0)
    b = asyncio.create_task(use("b", 60, second))
    c = asyncio.create_task(use("c", 30, third))  # would fit beside a, but does not overtake b
    await asyncio.sleep(0.01)
    assert order == ["a"] and budget.waiting == 2
    b.cancel()  # the page went away while waiting
    await asyncio.sleep(0.01)
    assert order == ["a", "c"] and budget.in_use == 90
    first.set()
    third.set()
    await asyncio.gather(a, c)
    assert budget.in_use == 0 and budget.waiting == 0


async def test_waiting_too_long_is_a_clear_message() -> None:
    budget = MemoryBudget(100, max_wait=0.05)
    async with budget.admit(80):
        with pytest.raises(InputError, match="busy with other large photos"):
            async with budget.admit(50):
                pass
    assert budget.in_use == 0 and budget.waiting == 0
