"""The one use case every front end shares: prepare -> engine -> finish.

``Service.remove`` takes a photo's bytes and a mask and/or prompt, runs the chosen engine, and returns the
cleaned photo at the original's size, encoded in the requested format, with every pixel outside the removed
area exactly the original's and its EXIF, ICC profile and alpha kept where the format allows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from novita_ui.config import Settings
from novita_ui.errors import BudgetExhaustedError, InputError
from novita_ui.normalise import Engine as Engine  # re-exported: front ends name engines through the service
from novita_ui.normalise import mask_or_prompt_problem, shrunk_away
from novita_ui.novita.client import CallOptions, ImageResult, NovitaClient, ProgressCallback
from novita_ui.novita.tasks import TaskProgress
from novita_ui.pixels import changes, crop, formats, imaging, jpegedit, local, results, select
from novita_ui.pixels import preview as previews
from novita_ui.requests import RemoveRequest as RemoveRequest  # re-exported: front ends import the records
from novita_ui.requests import RemoveResult as RemoveResult
from novita_ui.requests import output_name as output_name
from novita_ui.runtime.budget import MemoryBudget, estimate
from novita_ui.runtime.guard import SpendGuard
from novita_ui.runtime.workers import ImageWorkers

T = TypeVar("T")
# Novita's result is always pasted back and re-encoded (or block-pasted): a lossless download keeps the
# removed area to one lossy generation, for the price of a larger download from the object store.
_REMOTE_FORMAT: imaging.OutputFormat = "png"
log = logging.getLogger(__name__)
NO_TEXT_FOUND = "Novita found no text to remove: the photo is unchanged."
WAITING_NOTE = "Waiting for memory: other large photos are being processed; yours starts next."


class Service:
    """Runs removals. One per process: it owns the shared HTTP pool and the offline engine's worker pool."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: NovitaClient | None = None,
        workers: int | None = None,
        guard: SpendGuard | None = None,
        processes: bool | None = None,
    ):
        self.settings = settings
        self.client = client or NovitaClient(settings)
        # The spend guard on the settings' own key, for every front end (web page, API, CLI, batch).
        self.guard = guard or SpendGuard(settings.max_requests_per_hour)
        # Image work is CPU-bound: bound it by the number of cores so it cannot starve the server. In worker
        # processes (the web app) it cannot hold the server's GIL either (workers.py).
        self.local_workers = workers or os.cpu_count() or 2
        in_processes = settings.image_processes if processes is None else processes
        self.workers = ImageWorkers(
            self.local_workers, processes=bool(in_processes), preload=(__name__,)
        )
        self.memory = MemoryBudget(settings.memory_budget_mb * 2**20)

    async def aclose(self) -> None:
        """Release the HTTP pool and the workers."""
        await self.client.aclose()
        self.workers.close()

    async def remove(
        self, request: RemoveRequest, on_progress: ProgressCallback | None = None
    ) -> RemoveResult:
        """Clean one photo (see the module docstring). On the settings' own key every POST attempt takes a
        slot of the spend guard; a request refused by it is refused before anything is decoded or sent."""
        counted = request.engine != "local" and request.api_key is None and bool(self.settings.api_key)
        if counted and self.guard.seconds_until_free() > 0:
            raise BudgetExhaustedError(self.guard.refusal())
        budget = self.guard if counted else None
        clock = _Clock()
        # The header only (nothing is decoded before admission): light, so a thread of the event loop's.
        pixels = await asyncio.to_thread(_pixels, request)
        on_wait = _waiting_reporter(on_progress)
        work = dataclasses.replace(request, api_key=None)  # what crosses to a worker carries no key
        if request.engine == "local":
            async with self.memory.admit(estimate(pixels, "local"), on_wait):
                clock.mark("admit_s")
                finished = await self.workers.run(_run_local, work)
            clock.add(finished.timings, transfer=True)
            return _result(request, finished, None, None, clock)
        whole = self.settings.send_whole_photo if request.whole_photo is None else request.whole_photo
        async with self.memory.admit(estimate(pixels, "remote"), on_wait):
            sending = await self.workers.run(_prepare_remote, work, whole)
        clock.mark("prepare_s")
        # Only the compressed photo, the payload and the mask's patch are held while Novita works.
        remote = await self._run_remote(request, sending.payload, on_progress, budget)
        clock.mark("engine_s")
        # The mask's area travels in ``sending`` (its patch): the full-size mask need not go again.
        finishing = dataclasses.replace(work, mask=None, mask_file=None)
        async with self.memory.admit(estimate(pixels, "remote"), on_wait):
            finished = await self.workers.run(_finish_remote, finishing, sending, remote.data)
        finished = dataclasses.replace(finished, notes=sending.notes + finished.notes)
        return _result(request, finished, remote.task_id, sending.region, clock)

    async def select(
        self, image: bytes, box: select.Box, *, seed: bytes | None = None, grow: int = 0
    ) -> select.Selection:
        """The mask of the object inside ``box`` on ``image`` (pixels/select.py), in an image worker."""
        pixels = await asyncio.to_thread(imaging.image_pixels, image)
        async with self.memory.admit(estimate(pixels, "remote")):
            return await self.workers.run(
                functools.partial(select.select_file, seed=seed, grow=grow), image, box
            )

    async def _run_remote(
        self,
        request: RemoveRequest,
        payload: imaging.Payload,
        on_progress: ProgressCallback | None,
        budget: SpendGuard | None,
    ) -> ImageResult:
        options = CallOptions(
            api_key=request.api_key, on_progress=on_progress, budget=budget, session=request.session
        )
        if request.engine == "remove-text":
            return await self.client.remove_text(payload.image, output_format=_REMOTE_FORMAT, options=options)
        if request.engine == "eraser":
            return await self.client.erase(
                payload.image,
                mime=payload.mime,
                mask=payload.mask,
                prompt=request.prompt,
                output_format=_REMOTE_FORMAT,
                options=options,
            )
        assert payload.mask is not None  # _prepare_inputs insists on a mask for cleanup
        return await self.client.cleanup(
            payload.image,
            payload.mask,
            output_format=_REMOTE_FORMAT,
            enterprise_plan=request.enterprise_plan,
            options=options,
        )


@dataclass(frozen=True)
class _Finished:
    """A file a worker finished, with what the result says about it (crosses back from a worker process)."""

    data: bytes
    written: str  # "jpeg blocks" (untouched blocks kept) or "re-encoded"
    size: tuple[int, int]
    flattened: bool  # transparency laid on white for JPEG
    method: local.Method | None = None  # the offline method that ran
    timings: dict[str, float] = field(default_factory=dict)  # steps timed in the worker
    notes: tuple[str, ...] = ()  # how the file was read and sent (formats.input_notes)
    preview: previews.Preview | None = None  # at the request's preview_size, made from the same pixels


def _run_local(request: RemoveRequest) -> _Finished:
    """The offline removal's CPU work in one piece (the decoded photo never leaves the worker)."""
    clock = _Clock()
    photo, mask = _prepare_inputs(request)
    assert mask is not None  # _prepare_inputs insists on a mask for this engine
    clock.mark("prepare_s")
    method = local.resolve(request.method, mask)
    rgb = local.inpaint(photo.rgb, mask, method)
    del mask
    clock.mark("engine_s")
    finished = _finish(photo, rgb, request)
    clock.mark("finish_s")
    notes = formats.input_notes(photo.format, photo.animated, None)
    return dataclasses.replace(finished, method=method, timings=clock.timings, notes=notes)


def _prepare_inputs(request: RemoveRequest) -> tuple[imaging.Photo, imaging.Array | None]:
    """Decode the photo and build the full-resolution mask; check the engine has what it needs."""
    prompt = request.prompt
    given = request.mask is not None or request.mask_file is not None
    if request.engine == "local" and (problem := mask_or_prompt_problem("local", given, prompt)):
        raise InputError(problem)  # before decoding: a description cannot become a mask offline
    photo = imaging.open_photo(request.image)
    mask: imaging.Array | None = None
    if request.engine == "remove-text":
        return photo, None  # Novita finds the text; what it changed is found afterwards
    if request.mask is not None:
        mask = imaging.mask_from_array(np.asarray(request.mask), photo.size)
    elif request.mask_file is not None:
        mask = imaging.load_mask(request.mask_file, photo.size)
    if mask is not None:
        painted = bool(mask.any())
        mask = imaging.grow_mask(mask, request.grow)
        if painted and not mask.any():
            raise InputError(shrunk_away(request.grow))
        if not mask.any() and request.engine == "eraser" and prompt:
            mask = None  # nothing painted: the prompt alone says what to remove
    if mask is None:
        if problem := mask_or_prompt_problem(request.engine, False, prompt):
            raise InputError(problem)
        return photo, None  # the eraser, by prompt alone
    return photo, imaging.require_mask(mask)


@dataclass(frozen=True)
class _Sending:
    """What a remote removal keeps while Novita works: the bytes sent, their region, the mask's patch."""

    payload: imaging.Payload
    region: crop.Region
    patch: crop.MaskPatch | None  # None for a prompt-only removal: the changed area is found afterwards
    notes: tuple[str, ...] = ()  # how the file was read and sent (formats.input_notes)


def _pixels(request: RemoveRequest) -> int:
    """The photo's pixel count from its header (and the mask file's checks), before anything is decoded."""
    pixels = imaging.image_pixels(request.image)
    if request.mask_file is not None:
        imaging.image_pixels(request.mask_file, "mask")
    return pixels


def _prepare_remote(request: RemoveRequest, whole_photo: bool) -> _Sending:
    """Decode, choose what to send (the crop or the whole photo), encode it; the decoded photo is dropped."""
    photo, mask = _prepare_inputs(request)
    box = crop.choose_box(photo, mask, whole_photo)
    payload, region = crop.payload_for(photo, mask, box)
    notes = formats.input_notes(photo.format, photo.animated, payload.mime)
    return _Sending(payload, region, None if mask is None else crop.MaskPatch.of(mask), notes)


def _finish_remote(request: RemoveRequest, sending: _Sending, data: bytes) -> _Finished:
    """Decode the photo again and put Novita's result onto it, changing only the removed area; write it."""
    # Both decodes at once: Pillow's decoders let go of the GIL (a 12 MP PNG result and JPEG photo:
    # 0.30 + 0.10 s of CPU one after the other).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode-result") as pool:
        decoding = pool.submit(results.decode_result, data)
        photo = imaging.open_photo(request.image)
        try:
            result, _ = decoding.result()
        except ValueError:
            raise InputError("Novita's result could not be decoded. Try again.") from None
    patch = sending.patch
    if patch is None:
        # Prompt-only: the removed area is whatever the model changed, found at the size it worked on.
        h, w = result.shape[:2]
        before = photo.rgb if (w, h) == photo.size else imaging.resize(photo.rgb, (w, h))
        if request.engine == "remove-text":  # a re-encoded whole image: only what is far above its noise
            changed = changes.changed_region(before, result[..., :3])
        else:
            changed = results.changed_area(before, result)
        del before
        if not changed.any():
            unchanged = (NO_TEXT_FOUND,) if request.engine == "remove-text" else ()
            return dataclasses.replace(_finish(photo, photo.rgb, request), notes=unchanged)
        patch = crop.MaskPatch.of(imaging.fit_mask(changed, photo.size))
    rgb = photo.rgb.copy()  # _finish compares the edit with the original, block by block
    crop.paste_back(rgb, result, sending.region, patch)
    return _finish(photo, rgb, request)


def _flattened(photo: imaging.Photo, request: RemoveRequest) -> bool:
    """The photo had transparency and the format (JPEG) has none: it was laid on white."""
    return photo.alpha is not None and request.output_format == "jpeg"


class _Clock:
    """Step timings for the result."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.timings: dict[str, float] = {}

    def mark(self, step: str) -> None:
        now = time.perf_counter()
        self.timings[step] = round(now - self.last, 3)
        self.last = now

    def add(self, steps: dict[str, float], *, transfer: bool = False) -> None:
        """Steps timed elsewhere (in a worker), up to now; ``transfer``: also the time they do not cover
        (the job's way to the worker process and back)."""
        now = time.perf_counter()
        if transfer:
            self.timings["transfer_s"] = round(now - self.last - sum(steps.values()), 3)
        self.timings.update(steps)
        self.last = now


def _result(
    request: RemoveRequest,
    finished: _Finished,
    task_id: str | None,
    region: crop.Region | None,
    clock: _Clock,
) -> RemoveResult:
    if "finish_s" not in clock.timings:  # else a worker timed it (and everything before it)
        clock.mark("finish_s")
    timings = {**clock.timings, "total_s": round(clock.last - clock.started, 3)}
    return RemoveResult(
        data=finished.data,
        format=request.output_format,
        size=finished.size,
        engine=request.engine,
        task_id=task_id,
        downscaled=region is not None and region.scale < 1.0,
        timings=timings,
        written=finished.written,
        method=finished.method,
        flattened=finished.flattened,
        region=region,
        input_notes=finished.notes,
        preview=finished.preview,
    )


def _waiting_reporter(on_progress: ProgressCallback | None) -> Callable[[], None] | None:
    """Tell the front end a request is waiting for memory (a progress update with status "waiting")."""
    if on_progress is None:
        return None
    return lambda: on_progress(TaskProgress(None, "waiting", note=WAITING_NOTE))


def _finish(photo: imaging.Photo, rgb: imaging.Array, request: RemoveRequest) -> _Finished:
    """Write the result: JPEG to JPEG keeps every untouched block; anything else is re-encoded to match."""
    fmt = request.output_format
    flattened = _flattened(photo, request)
    # The preview from the same pixels: decoding the written file again cost up to 1 s (a 12 MP PNG).
    size = request.preview_size
    preview = None if size is None else previews.of_result(photo, rgb, size, fmt)
    if fmt == "jpeg" and photo.format in ("JPEG", "MPO") and photo.alpha is None:
        try:
            data = jpegedit.block_edit(photo.data, photo.rgb, rgb)
            return _Finished(data, "jpeg blocks", photo.size, flattened, preview=preview)
        except jpegedit.Unsupported as reason:
            log.info("JPEG re-encoded instead of block-edited: %s", reason)
    data = results.encode_result(photo, rgb, fmt, lossless_webp=request.lossless_webp)
    return _Finished(data, "re-encoded", photo.size, flattened, preview=preview)
