"""What the page's events may use: the settings they read, the scratch folder, the service, and the one way
to run a removal and keep its result. Narrower than :class:`~novita_ui.ui.app.App`, which builds it, so the
events never import the hub that holds them (no import circle).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from novita_ui.errors import NovitaUIError
from novita_ui.novita.tasks import TaskProgress
from novita_ui.runtime import storage
from novita_ui.runtime.scratch import ScratchSpace
from novita_ui.service import RemoveRequest, RemoveResult, Service, output_name
from novita_ui.ui.options import Options

log = logging.getLogger("novita_ui.ui")  # the package's name, as before the split: log lines read the same


@dataclass(frozen=True)
class EventContext:
    """One per server, shared by every tab's events; per-tab data lives in a Session."""

    options: Options
    scratch: ScratchSpace
    service: Service  # it holds the spend guard (--max-requests-per-hour) and the memory budget

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
        made = storage.Made(
            engine=request.engine,
            output_format=request.output_format,
            size=(0, 0),
            source_name=source_name or None,
            prompt=request.prompt,
            task_id=task_id,
        )
        record = storage.result_record(made, extra={"size": None, "status": "failed", "error": str(error)})
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
        made = storage.Made(
            engine=result.engine,
            output_format=result.format,
            size=result.size,
            source_name=source_name,
            prompt=prompt if result.engine == "eraser" else None,
            task_id=result.task_id,
            timings=result.timings,
            downscaled=result.downscaled,
        )
        record = storage.result_record(made, extra=result.record())
        try:
            storage.save_result(self.options.output_dir, name, result.data, record)
        except OSError as error:
            log.error("could not save %s to %s: %s", name, self.options.output_dir, error)
            return (
                f"The result could not be saved on the server ({error.strerror or error}); download it now."
            )
        return None
