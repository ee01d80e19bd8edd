"""The one use case every front end shares: prepare -> engine -> finish.

``Service.remove`` takes a photo's bytes and a mask and/or prompt, runs the chosen engine, and returns the
cleaned photo at the original's size, encoded in the requested format, with every pixel outside the removed
area exactly the original's and its EXIF, ICC profile and alpha kept where the format allows.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from . import imaging, jpegedit, local
from .client import ImageResult, NovitaClient, ProgressCallback, SpendBudget
from .config import Settings
from .errors import InputError
from .normalise import mask_or_prompt_problem, parse_format, text_or_none

Engine = Literal["eraser", "cleanup", "local"]
ENGINES: tuple[Engine, ...] = ("eraser", "cleanup", "local")
T = TypeVar("T")
# Novita's result is always pasted back and re-encoded (or block-pasted): a lossless download keeps the
# removed area to one lossy generation, for the price of a larger download from the object store.
_REMOTE_FORMAT: imaging.OutputFormat = "png"
log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RemoveRequest:
    """What to remove from which photo, with which engine, and how to return it.

    Front ends pass raw values: construction strips the prompt and key (empty -> None), reads the output
    format ("JPG" -> jpeg), bounds ``grow`` and checks the engine and method (InputError when wrong).
    """

    engine: Engine
    image: bytes
    mask: npt.NDArray[np.generic] | None = None  # painted mask, any size with the image's aspect ratio
    mask_file: bytes | None = None  # or a mask file (white / opaque = remove)
    prompt: str | None = None
    output_format: imaging.OutputFormat = "jpeg"
    grow: int = 0
    enterprise_plan: bool = False
    method: local.Method | Literal["auto"] = local.DEFAULT_METHOD  # "auto": local.choose_method
    lossless_webp: bool | None = None  # None: lossless WebP exactly when the source was lossless
    api_key: str | None = field(default=None, repr=False)
    session: str | None = None  # who asked (a browser session); its first 8 characters go into log lines

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise InputError(f"Unknown engine {self.engine!r}: choose eraser, cleanup or local.")
        if self.method not in (*local.METHODS, "auto"):
            raise InputError(f"Unknown method {self.method!r}: choose patchmatch, telea or auto.")
        fixed = {
            "prompt": text_or_none(self.prompt),
            "api_key": text_or_none(self.api_key),
            "output_format": parse_format(self.output_format),
            "grow": max(0, int(self.grow or 0)),
            "enterprise_plan": bool(self.enterprise_plan) and self.engine == "cleanup",
        }
        for name, value in fixed.items():
            object.__setattr__(self, name, value)  # frozen: set once, here

    @classmethod
    def from_raw(
        cls, *, engine: str, output_format: str | None = None, method: str | None = None, **values: Any
    ) -> RemoveRequest:
        """A request from a front end's raw values (strings as typed or flagged), checked on construction."""
        return cls(
            engine=engine,  # type: ignore[arg-type]  # __post_init__ checks it
            output_format=output_format or "jpeg",  # type: ignore[arg-type]  # __post_init__ parses it
            method=method or local.DEFAULT_METHOD,  # type: ignore[arg-type]  # __post_init__ checks it
            **values,
        )


@dataclass(frozen=True)
class RemoveResult:
    """The cleaned photo, ready to save or download."""

    data: bytes
    format: imaging.OutputFormat
    size: tuple[int, int]
    engine: Engine
    task_id: str | None
    downscaled: bool  # the photo exceeded Novita's limits and was processed smaller, then pasted back
    timings: dict[str, float]
    written: str = ""  # how the file was written: "jpeg blocks" (untouched blocks kept) or "re-encoded"
    method: local.Method | None = None  # the offline method that ran
    flattened: bool = False  # the photo had transparency and the format (JPEG) has none: laid on white


def output_name(source_name: str | None, fmt: imaging.OutputFormat) -> str:
    """``holiday.jpg`` + png -> ``holiday-cleaned.png``."""
    stem = os.path.splitext(os.path.basename(source_name or ""))[0].strip() or "image"
    return f"{stem}-cleaned.{imaging.EXTENSIONS[fmt]}"


class Service:
    """Runs removals. One per process: it owns the shared HTTP pool and the offline engine's worker pool."""

    def __init__(self, settings: Settings, *, client: NovitaClient | None = None, workers: int | None = None):
        self.settings = settings
        self.client = client or NovitaClient(settings)
        # Offline inpainting is CPU-bound: bound it by the number of cores so it cannot starve the server.
        self.local_workers = workers or os.cpu_count() or 2
        self._pool = ThreadPoolExecutor(max_workers=self.local_workers, thread_name_prefix="offline")

    async def aclose(self) -> None:
        """Release the HTTP pool and the worker threads."""
        await self.client.aclose()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _cpu(self, func: Callable[..., T], *args: object) -> T:
        """Run CPU-heavy work off the event loop, in the bounded pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, func, *args)

    async def remove(
        self,
        request: RemoveRequest,
        on_progress: ProgressCallback | None = None,
        *,
        budget: SpendBudget | None = None,
    ) -> RemoveResult:
        """Clean one photo (see the module docstring); ``budget`` is charged for every POST attempt."""
        started = time.perf_counter()
        photo, mask = await self._cpu(_prepare_inputs, request)
        prepared = time.perf_counter()
        downscaled, task_id, method = False, None, None
        if request.engine == "local":
            assert mask is not None  # _prepare_inputs insists on a mask for this engine
            method = local.choose_method(mask) if request.method == "auto" else request.method
            rgb = await self._cpu(local.inpaint, photo.rgb, mask, method)
        else:
            payload = await self._cpu(imaging.prepare_payload, photo, mask)
            downscaled = payload.downscaled
            remote = await self._run_remote(request, payload, on_progress, budget)
            task_id = remote.task_id
            rgb = await self._cpu(_merge_remote, photo, remote.data, mask)
        engine_done = time.perf_counter()
        data, written = await self._cpu(_finish, photo, rgb, request)
        finished = time.perf_counter()
        return RemoveResult(
            data=data,
            format=request.output_format,
            size=photo.size,
            engine=request.engine,
            task_id=task_id,
            downscaled=downscaled,
            written=written,
            timings={
                "prepare_s": round(prepared - started, 3),
                "engine_s": round(engine_done - prepared, 3),
                "finish_s": round(finished - engine_done, 3),
                "total_s": round(finished - started, 3),
            },
            method=method,
            flattened=photo.alpha is not None and request.output_format == "jpeg",
        )

    async def _run_remote(
        self,
        request: RemoveRequest,
        payload: imaging.Payload,
        on_progress: ProgressCallback | None,
        budget: SpendBudget | None,
    ) -> ImageResult:
        if request.engine == "eraser":
            return await self.client.erase(
                payload.image,
                mime=payload.mime,
                mask=payload.mask,
                prompt=request.prompt,
                output_format=_REMOTE_FORMAT,
                api_key=request.api_key,
                on_progress=on_progress,
                budget=budget,
                session=request.session,
            )
        assert payload.mask is not None  # _prepare_inputs insists on a mask for cleanup
        return await self.client.cleanup(
            payload.image,
            payload.mask,
            output_format=_REMOTE_FORMAT,
            enterprise_plan=request.enterprise_plan,
            api_key=request.api_key,
            on_progress=on_progress,
            budget=budget,
        )


def _prepare_inputs(request: RemoveRequest) -> tuple[imaging.Photo, imaging.Array | None]:
    """Decode the photo and build the full-resolution mask; check the engine has what it needs."""
    prompt = request.prompt
    given = request.mask is not None or request.mask_file is not None
    if request.engine == "local" and (problem := mask_or_prompt_problem("local", given, prompt)):
        raise InputError(problem)  # before decoding: a description cannot become a mask offline
    photo = imaging.open_photo(request.image)
    mask: imaging.Array | None = None
    if request.mask is not None:
        mask = imaging.mask_from_array(np.asarray(request.mask), photo.size)
    elif request.mask_file is not None:
        mask = imaging.load_mask(request.mask_file, photo.size)
    if mask is not None:
        mask = imaging.grow_mask(mask, request.grow)
        if not mask.any() and request.engine == "eraser" and prompt:
            mask = None  # nothing painted: the prompt alone says what to remove
    if mask is None:
        if problem := mask_or_prompt_problem(request.engine, False, prompt):
            raise InputError(problem)
        return photo, None  # the eraser, by prompt alone
    return photo, imaging.require_mask(mask)


def _merge_remote(photo: imaging.Photo, data: bytes, mask: imaging.Array | None) -> imaging.Array:
    """Put the remote result onto the full-resolution original, changing only the removed area."""
    try:
        result, _ = imaging.decode_result(data)
    except ValueError:
        raise InputError("Novita's result could not be decoded. Try again.") from None
    if mask is None:
        # Prompt-only: the removed area is whatever the model changed, found at the size it worked on.
        h, w = result.shape[:2]
        before = photo.rgb if (w, h) == photo.size else imaging.resize(photo.rgb, (w, h))
        mask = imaging.fit_mask(imaging.changed_area(before, result), photo.size)
    return imaging.paste_masked(photo.rgb, result, mask)


def _finish(photo: imaging.Photo, rgb: imaging.Array, request: RemoveRequest) -> tuple[bytes, str]:
    """Write the result: JPEG to JPEG keeps every untouched block; anything else is re-encoded to match."""
    fmt = request.output_format
    if fmt == "jpeg" and photo.format in ("JPEG", "MPO") and photo.alpha is None:
        try:
            return jpegedit.block_edit(photo.data, photo.rgb, rgb), "jpeg blocks"
        except jpegedit.Unsupported as reason:
            log.info("JPEG re-encoded instead of block-edited: %s", reason)
    return imaging.encode_result(photo, rgb, fmt, lossless_webp=request.lossless_webp), "re-encoded"
