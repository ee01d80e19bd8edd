"""Remove in the page: one job from the click to the result (see ``session.py`` for the rules it keeps).

The page script (``page.GATHER_JS``) takes the job's snapshot at the click (engine, format, grow, prompt,
plan, photo version) with the editor's stroke layers and a print of its canvas (``canvas.py``);
:meth:`RemovalEvents.run` checks it against the tab's Session, runs it, and streams named changes for the
page.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from novita_ui.errors import InputError, NovitaUIError
from novita_ui.normalise import mask_or_prompt_problem
from novita_ui.novita.client import TaskProgress
from novita_ui.pixels import masks
from novita_ui.service import RemoveRequest, RemoveResult, output_name
from novita_ui.ui.events import canvas as canvas_check
from novita_ui.ui.events.context import EventContext
from novita_ui.ui.events.feedback import download_button, refusal, result_slider, unexpected
from novita_ui.ui.options import HISTORY_LIMIT
from novita_ui.ui.outcome import Outcome, next_round, unique_name
from novita_ui.ui.session import JobSpec, Photo, Session
from novita_ui.ui.texts import (
    BRUSH,
    CANVAS_LOST,
    FLATTENED,
    KEEP_LABEL,
    NO_PHOTO,
    REMOVE_LABEL,
    progress_text,
)
from novita_ui.ui.wording import error_title, user_message

Changes = dict[str, Any]


class RemovalEvents:
    """The Remove button's server side."""

    def __init__(self, context: EventContext) -> None:
        self.context = context

    async def run(
        self,
        job: dict[str, Any] | None,
        api_key: str | None,
        session: Session,
        progress: gr.Progress = gr.Progress(),  # noqa: B008  # Gradio finds the progress tracker by this default
    ) -> AsyncIterator[Changes]:
        """Remove what the user painted/described; streams status lines, then the result panel."""
        if not job:
            # No job (the page never sends one empty; a hand-made request might): nothing on the page changes.
            # (A generator that yields nothing sets every output to None: Keep editing lost its label.)
            yield {}
            return
        try:
            spec = JobSpec.parse(job)
        except InputError as error:
            yield {"remove": gr.update(value=REMOVE_LABEL, interactive=session.photo is not None)}
            raise refusal(str(error), "Cannot remove yet") from None
        if not session.start(spec):
            # A second click (of a double-click, say): it starts nothing. When nothing runs any more, the
            # page gets the tab's job count again, so a page that missed it cannot stay stuck.
            idle = session.running is None
            yield {"jobs": session.started, "remove": _remove_button(session)} if idle else {}
            return
        try:
            read = _Read(job.get("layers"), job.get("canvas"))
            async for changes in self._run(spec, read, (api_key or "").strip(), session, progress):
                if session.is_newest(spec):
                    yield changes
        finally:
            session.finish(spec)

    async def _run(
        self, spec: JobSpec, read: _Read, key: str, session: Session, progress: Any
    ) -> AsyncIterator[Changes]:
        started, received = time.perf_counter(), time.time()
        task: asyncio.Task[RemoveResult] | None = None
        try:
            # Off the event loop: the canvas check and the strokes decode PNGs.
            ready = await asyncio.to_thread(_prepare, spec, session, read, key)
            photo, removal = ready.photo, ready.request
            if spec.engine == "local" and spec.prompt:
                gr.Info("The Offline engine ignores the prompt: it removes what you painted.")
            events: asyncio.Queue[TaskProgress] = asyncio.Queue()
            task = asyncio.create_task(
                self.context.remove(
                    removal, on_progress=events.put_nowait, session=session.owner, source_name=photo.name
                )
            )
            first = (
                "Removing offline..." if spec.engine == "local" else f"Sending the photo to {spec.label}..."
            )
            progress(None, desc=first)
            yield {"status": first, "remove": gr.update(value=REMOVE_LABEL, interactive=False)}
            async for update in _progress_updates(task, events):
                percent = (update.percent or 0) / 100 if update.status == "processing" else None
                progress(percent, desc=progress_text(update))
                yield {"status": progress_text(update)}
            phases = {"received": received, "checks_s": ready.checks_s, "mask_s": ready.mask_s}
            outcome, warning = await self._finish(task.result(), photo, spec, session, (started, phases))
            note = task.result().note
        except NovitaUIError as error:
            message = user_message(error, own_key=bool(key))
            yield _ended(spec, session, {"status": f"**Not removed.** {message}"})
            raise refusal(message, error_title(error)) from None
        except Exception:
            failure = unexpected("removing")
            yield _ended(spec, session, {"status": f"**Not removed.** {failure.message}"})
            raise failure from None
        finally:
            if task is not None and not task.done():
                task.cancel()  # the page went away: stop polling
        if note:
            gr.Info(note)
        if warning:
            gr.Warning(warning)
        if outcome.flattened:
            gr.Info(FLATTENED)
        yield _ended(spec, session, _result_changes(outcome, session))

    async def _finish(
        self,
        result: RemoveResult,
        photo: Photo,
        spec: JobSpec,
        session: Session,
        timing: tuple[float, dict[str, Any]],
    ) -> tuple[Outcome, str | None]:
        """Write the result and its preview (made by the worker that wrote the result); save the copy for
        --output-dir at the same time. ``timing``: when the job started, and the phases so far."""
        (started, phases), writing = timing, time.perf_counter()
        name = unique_name(output_name(photo.name, result.format), session.history)
        file = self.context.scratch.new_file(session.owner, name)
        if result.preview is None:  # every request here asks for one (_request)
            raise RuntimeError("the service made no preview for the page")
        shown = result.preview.data
        # Named by what the preview is (PNG only where the result keeps transparency), not by the result's
        # format: the page lays a checkerboard behind .png previews, and an opaque photo's PNG result showed
        # one in the slider's margins.
        after = self.context.scratch.new_file(
            session.owner, "after." + ("png" if result.preview.format == "png" else "jpg")
        )

        def write() -> None:
            file.write_bytes(result.data)
            after.write_bytes(shown)

        _, warning = await asyncio.gather(
            asyncio.to_thread(write),
            asyncio.to_thread(self.context.save_copy, result, name, photo.name, spec.prompt),
        )
        outcome = Outcome(
            file=file,
            before=photo.preview,
            after=after,
            source_name=photo.name,
            size=result.size,
            engine=result.engine,
            output_format=result.format,
            task_id=result.task_id,
            downscaled=result.downscaled,
            seconds=time.perf_counter() - started,
            round=next_round(session.history),
            finished=time.strftime("%H:%M:%S"),
            method=result.method,
            flattened=result.flattened,
            phases={
                **phases,
                "steps": result.timings,
                "write_s": round(time.perf_counter() - writing, 3),
                "answered": time.time(),
            },
        )
        return outcome, warning


@dataclass(frozen=True)
class _Read:
    """What the page read from the editor at the click: stroke layers and a canvas print (data URLs)."""

    layers: Any
    canvas: Any


def _photo_of(session: Session, spec: JobSpec, canvas: Any) -> Photo:
    """The session's photo, if the job was started on it and the editor still shows it; else a refusal."""
    photo = session.photo
    if photo is None:
        raise InputError(NO_PHOTO)
    if spec.photo is not None and spec.photo != photo.version:
        raise InputError("The photo changed after you pressed Remove; press **Remove** again.")
    if not photo.original.exists():
        raise InputError(
            "This photo is no longer on the server (the session was idle too long). "
            "Drop it on the editor again."
        )
    if not canvas_check.shows_photo(canvas, photo.shown, photo.preview_size):
        raise InputError(CANVAS_LOST)
    return photo


@dataclass(frozen=True)
class _Prepared:
    """A job checked against the session and turned into the service's request, with what each step took."""

    photo: Photo
    request: RemoveRequest
    checks_s: float
    mask_s: float


def _prepare(spec: JobSpec, session: Session, read: _Read, key: str) -> _Prepared:
    """The photo the job may run on (else a refusal), then its request."""
    started = time.perf_counter()
    photo = _photo_of(session, spec, read.canvas)
    checked = time.perf_counter()
    request = _request(spec, photo, session, read.layers, key)
    return _Prepared(photo, request, round(checked - started, 3), round(time.perf_counter() - checked, 3))


def _request(spec: JobSpec, photo: Photo, session: Session, layers: Any, key: str) -> RemoveRequest:
    """The service request: painted strokes at the canvas size (the worker scales them to the photo's),
    merged at the photo's size with an uploaded mask if there is one."""
    if spec.engine == "remove-text":  # the whole photo: Novita finds the text, strokes play no part
        return RemoveRequest.from_raw(
            engine="remove-text",
            image=photo.original.read_bytes(),
            output_format=spec.output_format,
            api_key=key,
            preview_size=photo.preview_size,
        )
    painted = canvas_check.painted_strokes(layers, photo.preview_size)
    mask = painted if session.mask is None else masks.merge(painted, session.mask, photo.size)
    if problem := mask_or_prompt_problem(spec.engine, mask is not None, spec.prompt, brush=BRUSH):
        raise InputError(problem)
    offline: dict[str, Any] = {"method": spec.quality} if spec.engine == "local" else {}
    return RemoveRequest.from_raw(
        **offline,
        engine=spec.engine,
        image=photo.original.read_bytes(),
        mask=mask,
        prompt=spec.prompt,
        output_format=spec.output_format,
        grow=spec.grow,
        enterprise_plan=spec.enterprise,
        whole_photo=True if spec.whole_photo else None,  # unticked: the server's setting decides
        api_key=key,
        preview_size=photo.preview_size,
    )




def _remove_button(session: Session) -> Any:
    """Remove can be pressed again once a job is over, if there is a photo to remove from."""
    return gr.update(value=REMOVE_LABEL, interactive=session.photo is not None)


def _ended(spec: JobSpec, session: Session, changes: Changes) -> Changes:
    """A job's last changes: it is over before the page hears so (a click right after the answer must find
    nothing running), and the page learns the tab's job count, which its next click sends back."""
    session.finish(spec)
    return {"remove": _remove_button(session), **changes, "jobs": session.started}


def _result_changes(outcome: Outcome, session: Session) -> Changes:
    """The result panel, the download, the history and the status for a finished job."""
    items = session.add_result(outcome, HISTORY_LIMIT)
    w, h = outcome.size
    return {
        "slider": result_slider(outcome),
        "download": download_button(outcome),
        "keep": gr.update(value=KEEP_LABEL, interactive=True, visible=True),
        "history": [(str(item.after), item.caption()) for item in items],
        "status": f"Done in {outcome.seconds:.1f} s with {outcome.engine_label()}: **{outcome.file.name}** "
        f"({w} × {h} px)." + (f" {FLATTENED}" if outcome.flattened else ""),
        "result_info": outcome.info(),
        "remove": gr.update(value=REMOVE_LABEL, interactive=True),
    }


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
