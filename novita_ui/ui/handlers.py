"""What the page's events and the public API call: :class:`App`, and how its answers reach the page.

Every removal goes through :meth:`App.remove` (the spend guard, then :meth:`Service.remove`). Expected
failures become a ``gr.Error`` with the user's message (:func:`_refusal`); anything else is logged with a
reference and shown as a generic error (:func:`_unexpected`).
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import logging
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from gradio.utils import get_upload_folder as gradio_cache_folder

from .. import imaging, storage
from ..budget import estimate
from ..client import TaskProgress
from ..config import Settings
from ..errors import BudgetExhaustedError, InputError, NovitaUIError
from ..guard import SpendGuard
from ..service import Engine, RemoveRequest, RemoveResult, Service, output_name
from .helpers import (
    FLATTENED,
    HISTORY_LIMIT,
    NO_PHOTO,
    Options,
    Outcome,
    Workspace,
    canvas_size,
    engine_of,
    error_title,
    image_size,
    make_preview,
    next_round,
    painted_mask,
    progress_text,
    quality_of,
    read_optional,
    result_preview,
    unique_name,
    user_message,
)

log = logging.getLogger("novita_ui.ui")  # the package's name, as before the split: log lines read the same


class App:
    """Everything the page's events call. One per server; per-user data lives in gr.State and the scratch."""

    def __init__(
        self,
        settings: Settings,
        options: Options | None = None,
        *,
        service: Service | None = None,
        guard: SpendGuard | None = None,
    ) -> None:
        self.settings = settings
        self.options = options or Options()
        self.service = service or Service(settings)
        self.guard = guard or SpendGuard(self.options.max_requests_per_hour)
        if self.options.output_dir is not None:
            storage.remove_partial_files(self.options.output_dir)  # what a killed server was writing
        # Inside Gradio's cache folder, results are served as they are: outside it, Gradio would copy every
        # returned file (20 MB for a 12 MP PNG) into its cache first.
        base = self.options.scratch_dir or Path(gradio_cache_folder())
        base.mkdir(parents=True, exist_ok=True)
        self.scratch = storage.ScratchSpace(tempfile.mkdtemp(prefix="novita-ui-", dir=base))
        atexit.register(self.scratch.close)

    @property
    def has_server_key(self) -> bool:
        """True when NOVITA_API_KEY is set on the server."""
        return bool(self.settings.api_key)

    async def aclose(self) -> None:
        """Release the HTTP pool, worker threads and scratch files."""
        await self.service.aclose()
        self.scratch.close()

    # -- the one way to run a removal (UI and API): spend guard, then the service

    async def remove(
        self, request: RemoveRequest, on_progress: Any = None, *, session: str = "", source_name: str = ""
    ) -> RemoveResult:
        """Run the service; on the server's key every POST attempt takes a slot of the hourly budget.

        A Novita task that was created but ended without a result still gets a sidecar in --output-dir.
        """
        counted = request.engine != "local" and request.api_key is None and self.has_server_key
        if counted and self.guard.seconds_until_free() > 0:  # refuse before decoding anything
            raise BudgetExhaustedError(self.guard.refusal())
        created: list[str] = []

        def observe(progress: TaskProgress) -> None:
            if progress.status == "created" and progress.task_id:
                created.append(progress.task_id)
            if on_progress is not None:
                on_progress(progress)

        request = dataclasses.replace(request, session=session or request.session)
        try:
            return await self.service.remove(request, observe, budget=self.guard if counted else None)
        except NovitaUIError as error:
            if created:
                await asyncio.to_thread(self._save_unfinished, request, created[-1], source_name, error)
            raise

    def _save_unfinished(
        self, request: RemoveRequest, task_id: str, source_name: str, error: Exception
    ) -> None:
        """A paid task without a result: note it in --output-dir, so it can be found in Novita's dashboard."""
        if self.options.output_dir is None:
            return
        record = storage.result_record(
            engine=request.engine,
            output_format=request.output_format,
            size=(0, 0),
            source_name=source_name or None,
            prompt=request.prompt,
            task_id=task_id,
            extra={"size": None, "status": "failed", "error": str(error)},
        )
        stem = Path(output_name(source_name, request.output_format)).stem
        try:
            name = f"{stem}-unfinished.json"
            storage.write_unique(self.options.output_dir, name, storage.json_bytes(record))
        except OSError as failure:
            log.error("could not note task %s in %s: %s", task_id, self.options.output_dir, failure)

    def _save_copy(self, result: RemoveResult, name: str, source_name: str, prompt: str | None) -> str | None:
        """Save to --output-dir; returns a warning for the user when that failed (the result still shows)."""
        if self.options.output_dir is None:
            return None
        record = storage.result_record(
            engine=result.engine,
            output_format=result.format,
            size=result.size,
            source_name=source_name,
            prompt=prompt if result.engine == "eraser" else None,
            task_id=result.task_id,
            timings=result.timings,
            downscaled=result.downscaled,
            extra=result.record(),
        )
        try:
            storage.save_result(self.options.output_dir, name, result.data, record)
        except OSError as error:
            log.error("could not save %s to %s: %s", name, self.options.output_dir, error)
            return (
                f"The result could not be saved on the server ({error.strerror or error}); download it now."
            )
        return None

    # -- loading a photo (from #photo-sink, fed by the page script)

    def _load(self, path: str, session: str) -> Workspace:
        data = Path(path).read_bytes()
        photo = imaging.open_photo(data)
        size = canvas_size(photo.size, self.options.preview_max_side)
        preview = self.scratch.new_file(session, "canvas." + ("png" if photo.alpha is not None else "jpg"))
        preview.write_bytes(make_preview(photo, size))
        original = self.scratch.new_file(session, Path(path).name)
        try:
            os.link(path, original)  # the upload is already on this disk: no copy needed
        except OSError:
            original.write_bytes(data)
        return Workspace(original, Path(path).name, photo.size, preview, size)

    async def load_photo(
        self, path: str | None, request: gr.Request
    ) -> tuple[dict[str, Any], Workspace, str, str]:
        """A photo arrived: keep the original, put its preview in the editor (mask cleared)."""
        if not path:
            raise _refusal(NO_PHOTO, "No photo")
        try:
            # Loading decodes the photo for its preview: it takes its turn in the memory budget too.
            pixels = await asyncio.to_thread(_photo_pixels, path)
            async with self.service.memory.admit(estimate(pixels, "remote")):
                ws = await asyncio.to_thread(self._load, path, request.session_hash or "anonymous")
        except NovitaUIError as error:
            raise _refusal(user_message(error), "Cannot open this file") from None
        except Exception:
            raise _unexpected("loading a photo") from None
        w, h = ws.size
        status = f"**{ws.name}** ({w} × {h} px) is ready. Paint over what should go, then press **Remove**."
        editor_value = {"background": str(ws.preview), "layers": [], "composite": str(ws.preview)}
        return editor_value, ws, status, ws.info()

    def keep_editing(self, current: Outcome | None) -> tuple[Any, ...]:
        """The last result becomes the photo being edited (mask cleared); results keep the original name."""
        if current is None:
            raise _refusal("There is no result to keep editing yet. Press Remove first.", "No result yet")
        ws = Workspace(
            current.file, current.source_name, current.size, current.after, image_size(str(current.after))
        )
        value = {"background": str(ws.preview), "layers": [], "composite": str(ws.preview)}
        status = (
            f"Editing the result further ({current.file.name}). Paint the next area, then press **Remove**."
        )
        return value, ws, status, ws.info()

    def clear_mask(self, workspace: Workspace | None) -> Any:
        """Remove every stroke but keep the photo (the toolbar's bin removes the photo too)."""
        if workspace is None:
            return gr.skip()
        return {"background": str(workspace.preview), "layers": [], "composite": str(workspace.preview)}

    def show_history(self, history: list[Outcome] | None, event: gr.SelectData) -> tuple[Any, ...]:
        """Clicking a history item shows it in the slider and offers its download again."""
        items = history or []
        index = event.index if isinstance(event.index, int) else 0
        if not 0 <= index < len(items):
            return gr.skip(), gr.skip(), gr.skip()
        chosen = items[index]
        return (str(chosen.before), str(chosen.after)), _download_button(chosen), chosen

    def forget_session(self, request: gr.Request) -> None:
        """The tab closed: delete its scratch files."""
        if request.session_hash:
            self.scratch.discard(request.session_hash)

    # -- removing in the page (triggered through the hidden tickets; see the package docstring)

    def _workspace_for(self, workspace: Workspace | None, canvas: str | None, session: str) -> Workspace:
        """The photo the user sees. Falls back to the editor's own image when the page script was bypassed."""
        if not canvas:
            raise InputError(NO_PHOTO)
        shown = image_size(canvas)
        if workspace is not None and workspace.preview_size == shown:
            if not workspace.original.exists():
                raise InputError(
                    "This photo is no longer on the server (the session was idle too long). "
                    "Drop it on the editor again."
                )
            return workspace
        log.info("editor image did not come through #photo-sink; using the editor's export (%s)", shown)
        path = self.scratch.new_file(session, "image.png")
        path.write_bytes(Path(canvas).read_bytes())
        return Workspace(path, "image.png", shown, path, shown)

    def _request(
        self,
        engine: Engine,
        ws: Workspace,
        layers: Sequence[str],
        mask_file: str | None,
        prompt: str,
        fmt: str,
        grow: float,
        enterprise: bool,
        whole_photo: bool,
        api_key: str,
    ) -> RemoveRequest:
        mask = painted_mask(layers, ws.preview_size)
        uploaded = read_optional(mask_file)
        if mask is not None and uploaded is not None:  # both: the union, at the original's size
            mask = np.maximum(imaging.fit_mask(mask, ws.size), imaging.load_mask(uploaded, ws.size))
            uploaded = None
        return RemoveRequest.from_raw(
            engine=engine,
            image=ws.original.read_bytes(),
            mask=mask,
            mask_file=uploaded,
            prompt=prompt,
            output_format=fmt,
            grow=grow,
            enterprise_plan=enterprise,
            whole_photo=True if whole_photo else None,  # unticked: the server's setting decides
            api_key=api_key,
        )

    async def _finish(
        self,
        result: RemoveResult,
        ws: Workspace,
        prompt: str,
        session: str,
        started: float,
        history: list[Outcome],
    ) -> tuple[Outcome, str | None]:
        """Write the result and its preview; save the copy for --output-dir at the same time."""
        name = unique_name(output_name(ws.name, result.format), history)
        file = self.scratch.new_file(session, name)
        after = self.scratch.new_file(session, "after." + ("png" if result.format != "jpeg" else "jpg"))

        def write() -> None:
            file.write_bytes(result.data)
            after.write_bytes(result_preview(result.data, ws.preview_size))

        _, warning = await asyncio.gather(
            asyncio.to_thread(write), asyncio.to_thread(self._save_copy, result, name, ws.name, prompt)
        )
        outcome = Outcome(
            file,
            ws.preview,
            after,
            ws.name,
            result.size,
            result.engine,
            result.format,
            result.task_id,
            result.downscaled,
            time.perf_counter() - started,
            next_round(history),
            time.strftime("%H:%M:%S"),
            result.method,
            result.flattened,
        )
        return outcome, warning

    async def run_removal(
        self,
        ticket: str,
        layers: list[str] | None,
        canvas: str | None,
        mask_file: str | None,
        prompt: str,
        fmt: str,
        grow: float,
        enterprise: bool,
        whole_photo: bool,
        api_key: str,
        workspace: Workspace | None,
        history: list[Outcome] | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008  # Gradio finds the progress tracker by this default
        quality: str | None = "Auto",  # the last input: Gradio puts request and progress in their places
    ) -> AsyncIterator[tuple[Any, ...]]:
        """Remove what the user painted/described; streams status lines, then the result panel."""
        started = time.perf_counter()
        session = request.session_hash or "anonymous"
        label = (ticket or "").split("|", 1)[0]
        task: asyncio.Task[RemoveResult] | None = None
        try:
            engine = engine_of(label)
            ws = await asyncio.to_thread(self._workspace_for, workspace, canvas, session)
            removal = await asyncio.to_thread(
                self._request,
                engine,
                ws,
                layers or [],
                mask_file,
                prompt or "",
                fmt,
                grow,
                enterprise,
                whole_photo,
                api_key or "",
            )
            if engine == "local":
                removal = dataclasses.replace(removal, method=quality_of(quality))
            if engine == "local" and removal.prompt and (removal.mask is not None or removal.mask_file):
                gr.Info("The Offline engine ignores the prompt: it removes what you painted.")
            events: asyncio.Queue[TaskProgress] = asyncio.Queue()
            task = asyncio.create_task(
                self.remove(removal, on_progress=events.put_nowait, session=session, source_name=ws.name)
            )
            first = "Removing offline..." if engine == "local" else f"Sending the photo to {label}..."
            progress(None, desc=first)
            yield _status(first)
            async for update in _progress_updates(task, events):
                progress(
                    (update.percent or 0) / 100 if update.status == "processing" else None,
                    desc=progress_text(update),
                )
                yield _status(progress_text(update))
            result = task.result()
            outcome, warning = await self._finish(result, ws, prompt or "", session, started, history or [])
        except NovitaUIError as error:
            message = user_message(error)
            yield _status(f"**Not removed.** {message}")
            raise _refusal(message, error_title(error)) from None
        except gr.Error:
            raise
        except Exception:
            failure = _unexpected("removing")
            yield _status(f"**Not removed.** {failure.message}")
            raise failure from None
        finally:
            if task is not None and not task.done():
                task.cancel()  # the page went away: stop polling
        if result.note:
            gr.Info(result.note)
        if warning:
            gr.Warning(warning)
        items = [outcome, *(history or [])][:HISTORY_LIMIT]
        gallery = [(str(item.after), item.caption()) for item in items]
        w, h = outcome.size
        done = (
            f"Done in {outcome.seconds:.1f} s with {outcome.engine_label()}: **{outcome.file.name}** "
            f"({w} × {h} px)."
        )
        if outcome.flattened:
            done += f" {FLATTENED}"
            gr.Info(FLATTENED)
        yield (
            (str(outcome.before), str(outcome.after)),
            _download_button(outcome),
            gr.Button(interactive=True),
            gallery,
            items,
            outcome,
            done,
            outcome.info(),
        )

    # -- the public API (gradio_client): image files in, the result file out

    async def _api(
        self,
        engine: Engine,
        image: str | None,
        mask: str | None,
        prompt: str | None,
        output_format: str | None,
        api_key: str | None,
        request: gr.Request | None,
    ) -> str:
        try:
            if not image:
                raise InputError("Send an image file (image=handle_file(path)).")
            data = await asyncio.to_thread(Path(image).read_bytes)
            mask_data = await asyncio.to_thread(read_optional, mask)
            removal = RemoveRequest.from_raw(
                engine=engine,
                image=data,
                mask_file=mask_data,
                prompt=prompt,
                output_format=output_format,
                api_key=api_key,
            )
            session = (request.session_hash if request else None) or ""
            result = await self.remove(removal, session=session, source_name=Path(image).name)
        except NovitaUIError as error:
            raise _refusal(user_message(error), error_title(error)) from None
        except Exception:
            raise _unexpected("an API call") from None
        session = "api-" + ((request.session_hash if request else None) or "anonymous")
        name = output_name(Path(image).name, result.format)
        path = self.scratch.new_file(session, name, keep=False)  # the client fetches it once, right away
        await asyncio.to_thread(path.write_bytes, result.data)
        warning = await asyncio.to_thread(self._save_copy, result, name, Path(image).name, prompt)
        if warning:
            gr.Warning(warning)
        return str(path)

    async def api_erase(
        self,
        image: str | None,
        mask: str | None,
        prompt: str | None,
        output_format: str | None,
        api_key: str | None,
        request: gr.Request | None,
    ) -> str:
        """Novita image-eraser: image + optional mask (white = remove) and/or prompt -> result file."""
        return await self._api("eraser", image, mask, prompt, output_format, api_key, request)

    async def api_cleanup(
        self,
        image: str | None,
        mask: str | None,
        output_format: str | None,
        api_key: str | None,
        request: gr.Request | None,
    ) -> str:
        """Novita cleanup: image + mask (white = remove) -> result file."""
        return await self._api("cleanup", image, mask, None, output_format, api_key, request)

    async def api_local(
        self, image: str | None, mask: str | None, output_format: str | None, request: gr.Request | None
    ) -> str:
        """Offline engine, no key: image + mask (white = remove) -> result file."""
        return await self._api("local", image, mask, None, output_format, None, request)


def _photo_pixels(path: str) -> int:
    """The photo's pixel count from its header (nothing decoded)."""
    return imaging.image_pixels(Path(path).read_bytes())


def _status(text: str) -> tuple[Any, ...]:
    """A run update that changes only the status line."""
    skip = gr.skip()
    return (skip, skip, skip, skip, skip, skip, text, skip)


def _download_button(outcome: Outcome) -> Any:
    size_mb = outcome.file.stat().st_size / 2**20
    return gr.DownloadButton(
        f"Download {outcome.file.name} ({size_mb:.1f} MB)", value=str(outcome.file), interactive=True
    )


def _refusal(message: str, title: str) -> gr.Error:
    """An expected failure: the user reads the message; the log gets one line, not a traceback."""
    log.info("%s: %s", title, message)
    return gr.Error(message, title=title, print_exception=False)


def _unexpected(during: str) -> gr.Error:
    """Log an unexpected failure (with a reference) and return the generic error the user sees."""
    reference = secrets.token_hex(4)
    log.exception("unexpected error while %s (reference %s)", during, reference)
    return gr.Error(
        f"Something unexpected went wrong on the server (reference {reference}). Try again; if it keeps "
        "happening, tell the server's owner the reference.",
        title="Server error",
        print_exception=False,  # logged above, with the traceback
    )


async def _progress_updates(
    task: asyncio.Task[RemoveResult], events: asyncio.Queue[TaskProgress]
) -> AsyncIterator[TaskProgress]:
    """Task progress as it arrives, until the task ends (repeated identical updates are dropped)."""
    last = None
    while not task.done():
        getter = asyncio.ensure_future(events.get())
        await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            continue
        update = getter.result()
        key = (update.status, update.percent, update.eta)
        if key != last:
            last = key
            yield update
