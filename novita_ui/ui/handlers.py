"""The app's server side: :class:`App` holds what all tabs share (settings, the service and its spend
guard, the scratch folder) and the one way to run a removal; the events live next to it, one module per job:

- ``photos.py``: :class:`PhotoEvents`, a photo or a mask arriving, cleared, or a result edited further;
- ``removal.py``: :class:`RemovalEvents`, Remove in the page: a job from click to result;
- ``api.py``: :class:`ApiEndpoints`, the public /erase, /cleanup and /local endpoints.

Each tab's own state is a :class:`~novita_ui.ui.session.Session`.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import logging
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from .. import storage
from ..client import TaskProgress
from ..config import Settings
from ..errors import NovitaUIError
from ..service import RemoveRequest, RemoveResult, Service, output_name
from .api import ApiEndpoints
from .gradio_seams import upload_folder
from .helpers import Options
from .photos import PhotoEvents
from .removal import RemovalEvents

log = logging.getLogger("novita_ui.ui")  # the package's name, as before the split: log lines read the same


class App:
    """What the page's events call. One per server; per-tab data lives in a Session (gr.State)."""

    def __init__(
        self,
        settings: Settings,
        options: Options | None = None,
        *,
        service: Service | None = None,
    ) -> None:
        self.settings = settings
        self.options = options or Options()
        if service is None:
            service = Service(settings)
            service.workers.warm_up()  # worker processes (if any) start with the server, not with a photo
        self.service = service  # it holds the spend guard (--max-requests-per-hour)
        if self.options.output_dir is not None:
            storage.remove_partial_files(self.options.output_dir)  # what a killed server was writing
        # Inside Gradio's cache folder, results are served as they are: outside it, Gradio would copy every
        # returned file (20 MB for a 12 MP PNG) into its cache first.
        base = self.options.scratch_dir or upload_folder()
        base.mkdir(parents=True, exist_ok=True)
        self.scratch = storage.ScratchSpace(tempfile.mkdtemp(prefix="novita-ui-", dir=base))
        atexit.register(self.scratch.close)
        self.photos = PhotoEvents(self)
        self.removal = RemovalEvents(self)
        self.api = ApiEndpoints(self)

    @property
    def has_server_key(self) -> bool:
        """True when NOVITA_API_KEY is set on the server."""
        return bool(self.settings.api_key)

    async def aclose(self) -> None:
        """Release the HTTP pool, worker threads and scratch files."""
        await self.service.aclose()
        self.scratch.close()

    async def remove(
        self, request: RemoveRequest, on_progress: Any = None, *, session: str = "", source_name: str = ""
    ) -> RemoveResult:
        """Run the service (its spend guard counts the server key's requests).

        A Novita task that was created but ended without a result still gets a sidecar in --output-dir.
        """
        created: list[str] = []

        def observe(progress: TaskProgress) -> None:
            if progress.status == "created" and progress.task_id:
                created.append(progress.task_id)
            if on_progress is not None:
                on_progress(progress)

        request = dataclasses.replace(request, session=session or request.session)
        try:
            return await self.service.remove(request, observe)
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

    def save_copy(self, result: RemoveResult, name: str, source_name: str, prompt: str | None) -> str | None:
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

    def forget_session(self, request: gr.Request) -> None:
        """The tab closed: delete its scratch files."""
        if request.session_hash:
            self.scratch.discard(request.session_hash)
