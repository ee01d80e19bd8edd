"""The browser app (Gradio Blocks): pure helpers at the top, layout in the middle, wiring at the bottom.

The only module that imports gradio. Every removal goes through :meth:`Service.remove`.

How large photos stay fast (measured in headless Chromium, 2 cores; see ``benchmarks/bench_browser.py``):
Gradio's ``ImageEditor`` holds its image in a WebGL canvas and, whenever its value is read, exports the
background, every layer and a composite as full-size PNGs and uploads them (~35 MB for a 12 MP JPEG, 8-14 s),
fails silently past the browser's texture limit (8192 px: black image, empty mask), and hangs on HTTP 413
when the PNGs exceed the upload limit. Worse, Gradio 6.31 re-reads an editor's value on *every* loading
status update of *any* event once the editor has been an input or a progress target of a queued event, so
one Remove can trigger a dozen exports. So here:

1. A small script (``_PAGE_JS``) catches a photo dropped on, chosen in, or pasted into the editor before the
   editor sees it, and hands the untouched file to a hidden upload button (``#photo-sink``): the server gets
   the original bytes (EXIF orientation is applied there), keeps them per session in a scratch folder, and
   gives the editor a preview whose longer side is at most ``Options.preview_max_side`` px (1024): the user
   paints on a bounded working canvas, whatever the photo's size (16384 px panoramas included).
2. The editor is never an input of a server event and never shows a progress status. Remove runs a
   browser-only function that reads the editor once and forwards the stroke layers (small PNGs) to hidden
   components; the real work is triggered from those, through one of two queues: Novita engines (I/O bound,
   ``concurrency_id="novita"``, 32 at a time) or Offline (CPU bound, one per core).
3. The painted mask is mapped back to the original's size by aspect ratio (``imaging.mask_from_layers``), the
   engine runs on the full-resolution original, and the full-resolution result is offered for download;
   only previews travel back to the page.

Measured for a 12 MP JPEG (median of 3): Remove click -> result shown 1.6-2.2 s with Offline and 2.4-2.6 s
with Novita Eraser against the zero-latency fake server, against 17-31 s for the naive editor path; the click
uploads 3.9 MB of canvas PNGs instead of 59.5 MB. Method and numbers: ``benchmarks/bench_browser.py``.

Keys: the password field's value is an input of each Novita event and is passed as ``RemoveRequest.api_key``
for that request only; it is never stored server-side, and ``run_history`` is off so the browser does not
keep it either. The server's ``NOVITA_API_KEY`` is the fallback, guarded by :class:`SpendGuard`.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from gradio.utils import get_upload_folder as gradio_cache_folder
from PIL import Image

from . import imaging, storage
from .client import KEY_HELP, TaskProgress
from .config import Settings
from .errors import (
    AuthenticationError,
    InputError,
    MissingAPIKeyError,
    NovitaUIError,
    RateLimitError,
    TaskError,
)
from .guard import SpendGuard
from .service import Engine, RemoveRequest, RemoveResult, Service, output_name

log = logging.getLogger(__name__)

ENGINE_LABELS: dict[str, Engine] = {
    "Novita Eraser": "eraser",
    "Novita Cleanup": "cleanup",
    "Offline": "local",
}
FORMATS: tuple[imaging.OutputFormat, ...] = imaging.OUTPUT_FORMATS
HISTORY_LIMIT = 24
# Gradio's cache sweep: every minute, files older than 10 minutes go. What ages out is only hand-offs:
# uploads (read by their event as soon as it leaves the queue; Gradio then keeps no reference) and API
# results (fetched by the client as soon as its call ends; the scratch deletes them after 2 minutes
# already). Files an open tab still shows are exempt (see _KeptScratch).
CACHE_SWEEP = (60, 600)
BRUSH_RADIUS = 18  # canvas pixels; the canvas is 768-1024 px wide, so a stroke is ~3.5-5 % of the photo
MIN_CANVAS_SIDE = 768  # small photos are shown enlarged so the brush feels the same on every photo
NO_PHOTO = (
    "Add a photo first: drop it on the editor, click the editor to choose a file, or paste it (Ctrl+V)."
)


# ---- pure helpers ------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Options:
    """How the web app runs (the CLI flags of app.py end up here)."""

    output_dir: Path | None = None  # every result is also saved here, with a JSON sidecar
    max_requests_per_hour: int | None = None  # spend guard on the server key; None = unlimited
    preview_max_side: int = 1024  # longest side of the working canvas the user paints on
    max_file_size: int = imaging.MAX_INPUT_BYTES  # bytes; larger uploads are refused with a message
    # Novita calls mostly wait on the network: 32 users at once each get an answer in one round trip
    # (bench_load). Each call in flight holds its photo's bytes, ~10-20 MB for 12 MP.
    novita_concurrency: int = 32
    offline_concurrency: int = field(default_factory=lambda: os.cpu_count() or 2)
    queue_size: int = 64  # events waiting beyond this get "This application is currently busy"
    scratch_dir: Path | None = None  # per-session working files; default: a fresh folder in Gradio's cache
    editor_height: int = 560


@dataclass(frozen=True)
class Workspace:
    """The session's current photo, kept server-side: the user only ever paints on its preview."""

    original: Path  # the bytes as the user gave them (or a result being edited further)
    name: str  # the user's file name: results are called <stem>-cleaned.<ext>
    size: tuple[int, int]  # upright (width, height) of the original
    preview: Path
    preview_size: tuple[int, int]

    def info(self) -> str:
        """JSON the page (and the browser tests) can read: name, original size and canvas size."""
        return json.dumps(
            {
                "id": self.preview.parent.name,
                "name": self.name,
                "size": list(self.size),
                "preview": list(self.preview_size),
            }
        )


@dataclass(frozen=True)
class Outcome:
    """One finished removal, as the results panel and the history show it."""

    file: Path  # full resolution, in the chosen format, named <stem>-cleaned.<ext>
    before: Path  # previews for the before/after slider
    after: Path
    source_name: str
    size: tuple[int, int]
    engine: Engine
    output_format: imaging.OutputFormat
    task_id: str | None
    downscaled: bool
    seconds: float

    def caption(self) -> str:
        """A short line for the history gallery."""
        label = next(k for k, v in ENGINE_LABELS.items() if v == self.engine)
        return f"{self.file.name} · {label}"

    def info(self) -> str:
        """JSON describing the result (read by the browser tests)."""
        return json.dumps(
            {
                "name": self.file.name,
                "size": list(self.size),
                "format": self.output_format,
                "engine": self.engine,
                "task_id": self.task_id,
                "downscaled": self.downscaled,
                "seconds": round(self.seconds, 3),
            }
        )


def engine_of(label: str | None) -> Engine:
    """The service's engine for a radio label."""
    try:
        return ENGINE_LABELS[label or ""]
    except KeyError:
        raise InputError(f"Unknown engine {label!r}: choose one of {', '.join(ENGINE_LABELS)}.") from None


def canvas_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """The working canvas for a photo: longer side between MIN_CANVAS_SIDE and max_side, same aspect."""
    w, h = size
    target = min(max(max(w, h), min(MIN_CANVAS_SIDE, max_side)), max_side)
    scale = target / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def progress_text(progress: TaskProgress) -> str:
    """One status line for a running Novita task."""
    if progress.status == "queued":
        text = "Queued at Novita"
    elif progress.status == "processing":
        text = "Processing at Novita"
        if progress.percent is not None:
            text += f": {progress.percent:.0f} %"
    elif progress.status == "succeeded":
        return "Novita finished; downloading the result..."
    else:
        text = "Waiting for Novita"
    if progress.eta and progress.status in ("queued", "processing"):
        text += f", about {progress.eta:.0f} s left"
    return text + f" (task {progress.task_id})"


def error_title(error: NovitaUIError) -> str:
    """The toast title for an error class."""
    if isinstance(error, MissingAPIKeyError):
        return "API key needed"
    if isinstance(error, AuthenticationError):
        return "API key rejected"
    if isinstance(error, RateLimitError):
        return "Rate limited"
    if isinstance(error, TaskError):
        return "Novita task failed"
    if isinstance(error, InputError):
        return "Cannot remove yet"
    return "Novita failed"


def user_message(error: NovitaUIError) -> str:
    """What the user reads: the error's own sentence, plus a next step where it has none."""
    text = str(error).strip()
    if isinstance(error, TaskError) and "try" not in text.lower():
        end = "" if text.endswith((".", "!", "?")) else "."
        text += f"{end} Try again, or try the other Novita engine; quote the task id if you contact Novita."
    return text


def engine_note(label: str, user_key: str, server_key: bool) -> str:
    """The hint under the engine choice (the page computes the same in JS as the user types)."""
    if label == "Offline":
        return "Runs on this server, no key needed. Paint over what should go (the prompt is not used)."
    if not user_key.strip() and not server_key:
        return f"**{label} needs a Novita API key:** paste yours in *Novita API key* below. {KEY_HELP}."
    if label == "Novita Eraser":
        return "Paint over what should go, describe it in the prompt (e.g. dog), or both."
    return "Paint over what should go (the prompt is not used)."


def painted_mask(layer_files: Sequence[str], size: tuple[int, int]) -> imaging.Array | None:
    """The union of the editor's stroke layers at the canvas size, or None when nothing is painted."""
    layers = []
    for path in layer_files:
        with Image.open(path) as image:
            layers.append(np.asarray(image.convert("RGBA")))
    if not layers:
        return None
    mask = imaging.mask_from_layers(layers, size)
    return mask if mask.any() else None


def make_preview(photo: imaging.Photo, size: tuple[int, int]) -> bytes:
    """The working-canvas image: the photo at ``size``, JPEG (PNG when it has transparency)."""
    rgb = imaging.resize(photo.rgb, size) if size != photo.size else photo.rgb
    alpha = None
    if photo.alpha is not None:
        alpha = imaging.resize(photo.alpha, size) if size != photo.size else photo.alpha
    return imaging.encode_output(rgb, "png" if alpha is not None else "jpeg", alpha=alpha)


def result_preview(data: bytes, size: tuple[int, int]) -> bytes:
    """The result at canvas size, for the after side of the slider and the history."""
    rgb, alpha = imaging.decode_preview(data, max(size))
    if (rgb.shape[1], rgb.shape[0]) != size:
        rgb = imaging.resize(rgb, size)
        alpha = None if alpha is None else imaging.resize(alpha, size)
    return imaging.encode_output(rgb, "png" if alpha is not None else "jpeg", alpha=alpha)


def _read(path: str | os.PathLike[str] | None) -> bytes | None:
    return None if not path else Path(path).read_bytes()


def _read_size(path: str) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


# ---- the app: state, handlers ------------------------------------------------------------------------------


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

    async def remove(self, request: RemoveRequest, on_progress: Any = None) -> RemoveResult:
        """Run the service; a request on the server's key takes a slot of the hourly budget first."""
        counted = request.engine != "local" and not (request.api_key or "").strip() and self.has_server_key
        if counted and not self.guard.try_acquire():
            raise InputError(self.guard.refusal())
        try:
            return await self.service.remove(request, on_progress)
        except InputError:
            if counted:
                self.guard.refund()  # rejected before anything reached Novita
            raise

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
            current.file, current.source_name, current.size, current.after, _read_size(str(current.after))
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

    # -- removing in the page (triggered through the hidden tickets; see the module docstring)

    def _workspace_for(self, workspace: Workspace | None, canvas: str | None, session: str) -> Workspace:
        """The photo the user sees. Falls back to the editor's own image when the page script was bypassed."""
        if not canvas:
            raise InputError(NO_PHOTO)
        shown = _read_size(canvas)
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
        api_key: str,
    ) -> RemoveRequest:
        if fmt not in FORMATS:
            raise InputError(f"Unknown output format {fmt!r}: choose jpeg, png or webp.")
        mask = painted_mask(layers, ws.preview_size)
        uploaded = _read(mask_file)
        if mask is not None and uploaded is not None:  # both: the union, at the original's size
            mask = np.maximum(imaging.fit_mask(mask, ws.size), imaging.load_mask(uploaded, ws.size))
            uploaded = None
        return RemoveRequest(
            engine=engine,
            image=ws.original.read_bytes(),
            mask=mask,
            mask_file=uploaded,
            prompt=prompt.strip() or None,
            output_format=fmt,
            grow=max(0, int(grow or 0)),
            enterprise_plan=bool(enterprise) and engine == "cleanup",
            api_key=api_key.strip() or None,
        )

    async def _finish(
        self, result: RemoveResult, ws: Workspace, prompt: str, session: str, started: float
    ) -> tuple[Outcome, str | None]:
        """Write the result and its preview; save the copy for --output-dir at the same time."""
        name = output_name(ws.name, result.format)
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
        api_key: str,
        workspace: Workspace | None,
        history: list[Outcome] | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008  # Gradio finds the progress tracker by this default
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
                api_key or "",
            )
            if engine == "local" and removal.prompt and (removal.mask is not None or removal.mask_file):
                gr.Info("The Offline engine ignores the prompt: it removes what you painted.")
            events: asyncio.Queue[TaskProgress] = asyncio.Queue()
            task = asyncio.create_task(self.remove(removal, on_progress=events.put_nowait))
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
            outcome, warning = await self._finish(result, ws, prompt or "", session, started)
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
        if result.downscaled:
            gr.Info(
                "The photo was larger than Novita accepts, so it was processed smaller; only the removed "
                "area was pasted back, the rest keeps the full resolution."
            )
        if warning:
            gr.Warning(warning)
        items = [outcome, *(history or [])][:HISTORY_LIMIT]
        gallery = [(str(item.after), item.caption()) for item in items]
        w, h = outcome.size
        done = f"Done in {outcome.seconds:.1f} s: **{outcome.file.name}** ({w} × {h} px)."
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
            fmt = (output_format or "jpeg").strip().lower()
            fmt = "jpeg" if fmt == "jpg" else fmt
            if fmt not in FORMATS:
                raise InputError(f"Unknown output format {fmt!r}: choose jpeg, png or webp.")
            data = await asyncio.to_thread(Path(image).read_bytes)
            mask_data = await asyncio.to_thread(_read, mask)
            removal = RemoveRequest(
                engine=engine,
                image=data,
                mask_file=mask_data,
                prompt=(prompt or "").strip() or None,
                output_format=fmt,
                api_key=(api_key or "").strip() or None,
            )
            result = await self.remove(removal)
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
        request: gr.Request,
    ) -> str:
        """Novita image-eraser: image + optional mask (white = remove) and/or prompt -> result file."""
        return await self._api("eraser", image, mask, prompt, output_format, api_key, request)

    async def api_cleanup(
        self,
        image: str | None,
        mask: str | None,
        output_format: str | None,
        api_key: str | None,
        request: gr.Request,
    ) -> str:
        """Novita cleanup: image + mask (white = remove) -> result file."""
        return await self._api("cleanup", image, mask, None, output_format, api_key, request)

    async def api_local(
        self, image: str | None, mask: str | None, output_format: str | None, request: gr.Request
    ) -> str:
        """Offline engine, no key: image + mask (white = remove) -> result file."""
        return await self._api("local", image, mask, None, output_format, None, request)


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


# ---- layout ------------------------------------------------------------------------------------------------

_CSS = """
#editor { position: relative; }
#editor.nu-loading::after {
  content: "Loading photo…"; position: absolute; inset: 0; display: flex; align-items: center;
  justify-content: center; background: rgba(255, 255, 255, .72); font-size: 1.1rem; font-weight: 600;
  z-index: 50; pointer-events: none;
}
#remove { min-height: 3rem; font-size: 1.05rem; }
#status { min-height: 2.5rem; }
/* The status line already says what failed (and a toast too): Gradio's error badge would only cover it. */
#status [data-testid="status-tracker"]:has(.error) { display: none; }
#engine-note { font-size: .9rem; opacity: .85; }
#results-title { margin-top: .5rem; }
/* Gradio sizes gallery cells by min(columns, items): keep history thumbnails small however many there are. */
#history .grid-container { grid-template-columns: repeat(auto-fill, minmax(110px, 150px)) !important; }
#history .thumbnail-item { aspect-ratio: 4 / 3; }
/* Phones: a shorter editor, so the photo fills it and the controls are one short scroll away. */
@media (max-width: 640px) { #editor { height: 400px !important; } }
"""

# Routes a photo dropped on, chosen in, or pasted into the editor to #photo-sink, untouched (see the
# module docstring). Capture-phase listeners run before the editor's own, which never see the file.
_PAGE_JS = """
() => {
  const MAX = %(max_bytes)d;
  const editor = () => document.querySelector('#editor');
  const setLoading = (on) => editor()?.classList.toggle('nu-loading', on);
  function route(file) {
    const sink = document.querySelector('input[data-testid="photo-sink-upload-button"]');
    if (!sink || !file) return false;
    const dt = new DataTransfer();
    dt.items.add(file);
    sink.files = dt.files;
    if (file.size <= MAX) setLoading(true);  // over the limit: Gradio's own message appears instead
    sink.dispatchEvent(new Event('change', {bubbles: true}));
    return true;
  }
  const inEditor = (node) => node instanceof Element && node.closest('#editor');
  document.addEventListener('drop', (e) => {
    if (!inEditor(e.target)) return;
    const file = Array.from(e.dataTransfer?.files || [])[0];
    if (!file) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    e.target.dispatchEvent(new DragEvent('dragleave', {bubbles: true}));
    route(file);
  }, true);
  for (const type of ['input', 'change']) {
    document.addEventListener(type, (e) => {
      const input = e.target;
      if (!(input instanceof HTMLInputElement) || input.type !== 'file' || !inEditor(input)) return;
      e.stopImmediatePropagation();
      if (type === 'change' && input.files && input.files[0]) route(input.files[0]);
      if (type === 'change') input.value = '';
    }, true);
  }
  document.addEventListener('paste', (e) => {
    const t = e.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t?.isContentEditable) return;
    const file = Array.from(e.clipboardData?.files || []).find((f) => f.type.startsWith('image/'));
    if (file && route(file)) { e.preventDefault(); e.stopImmediatePropagation(); }
  }, true);
  new MutationObserver(() => {
    if (document.querySelector('[data-testid="toast-body"]')) setLoading(false);
  }).observe(document.body, {childList: true, subtree: true});
}
"""

# Remove, in the browser: read the editor once and route its stroke layers to the engine's queue.
_GATHER_JS = """
(value, engine, novitaTicket, offlineTicket) => {
  const layers = ((value && value.layers) || []).filter(Boolean);
  const canvas = (value && value.background) || null;
  const ticket = engine + '|' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  return engine === 'Offline'
    ? [layers, canvas, novitaTicket, ticket]
    : [layers, canvas, ticket, offlineTicket];
}
"""

_LOADED_JS = "() => { document.querySelector('#editor')?.classList.remove('nu-loading'); }"
_PREPARING_JS = "() => 'Preparing the mask...'"
# After a removal, bring the result into view when it is below the fold (phones, short windows).
_SHOW_RESULT_JS = """
() => {
  const el = document.querySelector('#result-slider');
  const box = el?.getBoundingClientRect();
  if (box && (box.top > window.innerHeight - 120 || box.bottom < 0)) el.scrollIntoView({behavior: 'smooth'});
}
"""


def _engine_note_js(server_key: bool) -> str:
    labels = json.dumps({label: engine_note(label, "", server_key) for label in ENGINE_LABELS})
    keyed = json.dumps({label: engine_note(label, "key", server_key) for label in ENGINE_LABELS})
    return f"(engine, key) => ((key || '').trim() ? {keyed} : {labels})[engine] || ''"


@dataclass
class _Page:
    """The components the events connect (one per build_app call)."""

    editor: gr.ImageEditor
    clear_mask: gr.Button
    engine: gr.Radio
    note: gr.Markdown
    api_key: gr.Textbox
    prompt: gr.Textbox
    remove: gr.Button
    status: gr.Markdown
    fmt: gr.Radio
    grow: gr.Slider
    mask_upload: gr.File
    enterprise: gr.Checkbox
    slider: gr.ImageSlider
    download: gr.DownloadButton
    keep: gr.Button
    history: gr.Gallery
    workspace: gr.State
    history_state: gr.State
    current: gr.State
    photo_sink: gr.UploadButton
    layer_sink: gr.File
    canvas_sink: gr.File
    novita_ticket: gr.Textbox
    offline_ticket: gr.Textbox
    photo_info: gr.Textbox
    result_info: gr.Textbox


def build_app(settings: Settings, options: Options | None = None, *, app: App | None = None) -> gr.Blocks:
    """The whole page. Launch it with ``demo.queue(**queue_kwargs(o)).launch(**launch_kwargs(o, ...))``."""
    app = app or App(settings, options)
    demo = gr.Blocks(title="Remove objects from photos", delete_cache=CACHE_SWEEP)
    with demo:
        page = _layout(app)
        _wire(app, demo, page)
        _wire_api(app)
        # Gradio's sweeper skips every path a block lists in keep_in_cache: an open tab's photo, previews
        # and results go with their session (ScratchSpace), not after CACHE_SWEEP's age.
        gr.State().keep_in_cache = _KeptScratch(app.scratch)  # type: ignore[assignment]
    return demo


class _KeptScratch:
    """What Gradio's cache sweeper reads as a set of paths to leave alone: the scratch's kept files."""

    def __init__(self, scratch: storage.ScratchSpace) -> None:
        self.scratch = scratch
        self.extra: set[str] = set()  # in case Gradio ever adds a path of its own

    def __iter__(self) -> Iterator[str]:
        yield from self.scratch.kept
        yield from list(self.extra)

    def add(self, path: str) -> None:
        self.extra.add(path)


def _layout(app: App) -> _Page:
    opts = app.options
    default_engine = "Novita Eraser" if app.has_server_key else "Offline"
    gr.Markdown(
        "## Remove objects from photos\n"
        "Drop a photo on the editor (or click it, or paste with Ctrl+V), paint over what should go, "
        "press **Remove**."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=340):
            editor = gr.ImageEditor(
                label="Photo",
                elem_id="editor",
                type="filepath",
                sources=["upload"],
                transforms=(),
                layers=False,
                brush=gr.Brush(
                    default_size=BRUSH_RADIUS, colors=["#ff3b30"], default_color="#ff3b30", color_mode="fixed"
                ),
                eraser=gr.Eraser(default_size=BRUSH_RADIUS),
                height=opts.editor_height,
                buttons=["fullscreen"],
                placeholder="# Drop a photo here\nor click to choose one",
            )
            clear_mask = gr.Button(
                "Clear the mask (keep the photo)", elem_id="clear-mask", size="sm", variant="secondary"
            )
        with gr.Column(scale=2, min_width=300):
            engine = gr.Radio(list(ENGINE_LABELS), value=default_engine, label="Engine", elem_id="engine")
            note = gr.Markdown(engine_note(default_engine, "", app.has_server_key), elem_id="engine-note")
            api_key = gr.Textbox(
                label="Novita API key" + (" (optional)" if app.has_server_key else ""),
                type="password",
                elem_id="api-key",
                max_lines=1,
                placeholder="sk_...",
                info="Used for this tab's requests only, never stored."
                + (" Without it, the server's key is used." if app.has_server_key else ""),
            )
            prompt = gr.Textbox(
                label="What to remove (Novita Eraser only)",
                placeholder="e.g. dog",
                elem_id="prompt",
                max_lines=1,
            )
            remove = gr.Button("Remove", variant="primary", elem_id="remove")
            status = gr.Markdown("Drop a photo on the editor to start.", elem_id="status")
            with gr.Row():
                fmt = gr.Radio(
                    list(FORMATS),
                    value="jpeg",
                    label="Output format",
                    elem_id="format",
                    scale=3,
                    min_width=250,
                )
                grow = gr.Slider(
                    0, 64, value=0, step=1, label="Grow mask (px)", elem_id="grow", scale=2, min_width=150
                )
            mask_upload = gr.File(
                label="Or upload a mask (white = remove)",
                file_types=["image"],
                type="filepath",
                elem_id="mask-upload",
                height=120,
            )
            enterprise = gr.Checkbox(label="Novita Cleanup: use my enterprise plan", elem_id="enterprise")
    gr.Markdown("### Result", elem_id="results-title")
    slider = gr.ImageSlider(
        label="Before / after",
        type="filepath",
        elem_id="result-slider",
        interactive=False,
        max_height=520,
        buttons=["fullscreen"],
    )
    with gr.Row():
        download = gr.DownloadButton("Download", elem_id="download", interactive=False, variant="primary")
        keep = gr.Button("Keep editing this result", elem_id="keep-editing", interactive=False)
    history = gr.Gallery(
        label="This session's results (click one to show it again)",
        elem_id="history",
        columns=8,
        height=150,
        allow_preview=False,
        object_fit="contain",
    )
    return _Page(
        editor=editor,
        clear_mask=clear_mask,
        engine=engine,
        note=note,
        api_key=api_key,
        prompt=prompt,
        remove=remove,
        status=status,
        fmt=fmt,
        grow=grow,
        mask_upload=mask_upload,
        enterprise=enterprise,
        slider=slider,
        download=download,
        keep=keep,
        history=history,
        workspace=gr.State(None),
        history_state=gr.State([]),
        current=gr.State(None),
        # Hidden plumbing (module docstring); visible="hidden" keeps them in the DOM for the page script.
        photo_sink=gr.UploadButton("photo-sink", elem_id="photo-sink", type="filepath", visible="hidden"),
        layer_sink=gr.File(elem_id="layer-sink", type="filepath", file_count="multiple", visible="hidden"),
        canvas_sink=gr.File(elem_id="canvas-sink", type="filepath", visible="hidden"),
        novita_ticket=gr.Textbox(elem_id="novita-ticket", visible="hidden"),
        offline_ticket=gr.Textbox(elem_id="offline-ticket", visible="hidden"),
        photo_info=gr.Textbox(elem_id="photo-info", visible="hidden"),
        result_info=gr.Textbox(elem_id="result-info", visible="hidden"),
    )


def _wire(app: App, demo: gr.Blocks, p: _Page) -> None:
    """Events. The editor is never an input of a server event nor a progress target (module docstring)."""
    private: dict[str, Any] = {"api_visibility": "private"}
    opts = app.options
    to_editor = [p.editor, p.workspace, p.status, p.photo_info]
    loading = p.photo_sink.upload(
        # Progress goes to a hidden box: the page script's "Loading photo..." overlay is the visible feedback.
        app.load_photo,
        p.photo_sink,
        to_editor,
        show_progress_on=[p.photo_info],
        concurrency_id="load",
        concurrency_limit=opts.offline_concurrency,
        **private,
    )
    loading.then(None, js=_LOADED_JS, **private)
    note_js = _engine_note_js(app.has_server_key)
    p.engine.change(None, [p.engine, p.api_key], p.note, js=note_js, **private)
    # .change, not .input: Gradio's Textbox fires .input on key presses only, so a pasted key would leave
    # the note saying a key is needed.
    p.api_key.change(None, [p.engine, p.api_key], p.note, js=note_js, **private)
    p.remove.click(None, None, p.status, js=_PREPARING_JS, **private)  # instant feedback, before the export
    p.remove.click(
        None,
        [p.editor, p.engine, p.novita_ticket, p.offline_ticket],
        [p.layer_sink, p.canvas_sink, p.novita_ticket, p.offline_ticket],
        js=_GATHER_JS,
        **private,
    )
    outputs = [p.slider, p.download, p.keep, p.history, p.history_state, p.current, p.status, p.result_info]
    inputs = [
        p.layer_sink,
        p.canvas_sink,
        p.mask_upload,
        p.prompt,
        p.fmt,
        p.grow,
        p.enterprise,
        p.api_key,
        p.workspace,
        p.history_state,
    ]
    for ticket, queue, limit in (
        (p.novita_ticket, "novita", opts.novita_concurrency),
        (p.offline_ticket, "offline", opts.offline_concurrency),
    ):
        running = ticket.change(
            app.run_removal,
            [ticket, *inputs],
            outputs,
            concurrency_id=queue,
            concurrency_limit=limit,
            show_progress_on=[p.status],
            trigger_mode="multiple",
            **private,
        )
        running.success(None, js=_SHOW_RESULT_JS, **private)
    p.keep.click(
        app.keep_editing,
        p.current,
        to_editor,
        show_progress_on=[p.photo_info],
        concurrency_id="load",
        **private,
    )
    p.clear_mask.click(
        app.clear_mask,
        p.workspace,
        p.editor,
        show_progress_on=[p.photo_info],
        concurrency_id="load",
        **private,
    )
    p.history.select(
        app.show_history,
        p.history_state,
        [p.slider, p.download, p.current],
        show_progress="hidden",
        concurrency_id="load",
        **private,
    )
    demo.unload(app.forget_session)


def _wire_api(app: App) -> None:
    """The three public endpoints: /erase, /cleanup, /local (hidden components, named events)."""
    opts = app.options
    image = gr.File(type="filepath", visible=False, label="image")
    mask = gr.File(type="filepath", visible=False, label="mask")
    prompt = gr.Textbox(visible=False, label="prompt")
    fmt = gr.Textbox(visible=False, label="output_format", value="jpeg")
    key = gr.Textbox(visible=False, label="api_key", type="password")
    result = gr.File(visible=False, label="result")
    novita: dict[str, Any] = {"concurrency_id": "novita", "concurrency_limit": opts.novita_concurrency}
    gr.Button(visible=False).click(
        app.api_erase, [image, mask, prompt, fmt, key], result, api_name="erase", **novita
    )
    gr.Button(visible=False).click(
        app.api_cleanup, [image, mask, fmt, key], result, api_name="cleanup", **novita
    )
    gr.Button(visible=False).click(
        app.api_local,
        [image, mask, fmt],
        result,
        api_name="local",
        concurrency_id="offline",
        concurrency_limit=opts.offline_concurrency,
    )


def launch_kwargs(
    options: Options | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    auth: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch`` (after ``demo.queue(**queue_kwargs(options))``)."""
    opts = options or Options()
    return {
        "server_name": host,
        "server_port": port,
        "share": share,
        "auth": auth,
        "auth_message": "Sign in to remove objects from photos." if auth else None,
        "max_file_size": opts.max_file_size,
        "run_history": False,  # history would keep every input, the API key included, in localStorage
        "ssr_mode": False,
        "show_error": False,  # only gr.Error texts reach the page; anything else is logged server-side
        "footer_links": ["api"],
        "js": _PAGE_JS % {"max_bytes": opts.max_file_size},
        "css": _CSS,
        "theme": gr.themes.Default(primary_hue="indigo"),
    }


def queue_kwargs(options: Options | None = None) -> dict[str, Any]:
    """Keyword arguments for ``demo.queue``: bounded, so a flood gets "busy, try again" instead of waiting."""
    opts = options or Options()
    return {"max_size": opts.queue_size, "default_concurrency_limit": opts.novita_concurrency}
