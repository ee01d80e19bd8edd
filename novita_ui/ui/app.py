"""The app's server side: :class:`App` builds what all tabs share (settings, the service and its spend
guard, the scratch folder) and hands the events in ``events/`` a narrow :class:`EventContext`, one module
per job:

- ``events/selecting.py``: :class:`SelectEvents`, the select tool (a box -> the object's outline as strokes);
- ``events/photos.py``: :class:`PhotoEvents`, a photo or a mask arriving, cleared, or a result edited further;
- ``events/removal.py``: :class:`RemovalEvents`, Remove in the page: a job from click to result;
- ``events/api.py``: :class:`ApiEndpoints`, the public /erase, /cleanup and /local endpoints.

Each tab's own state is a :class:`~novita_ui.ui.session.Session`.
"""

from __future__ import annotations

import atexit
import tempfile
from typing import Any

import gradio as gr

from novita_ui.config import Settings
from novita_ui.runtime import storage
from novita_ui.service import RemoveRequest, RemoveResult, Service
from novita_ui.ui.events.api import ApiEndpoints
from novita_ui.ui.events.context import EventContext
from novita_ui.ui.events.photos import PhotoEvents
from novita_ui.ui.events.removal import RemovalEvents
from novita_ui.ui.events.selecting import SelectEvents
from novita_ui.ui.options import Options
from novita_ui.ui.server.gradio_seams import upload_folder


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
        self.context = EventContext(self.options, self.scratch, service)
        self.photos = PhotoEvents(self.context)
        self.selecting = SelectEvents(self.context)
        self.removal = RemovalEvents(self.context)
        self.api = ApiEndpoints(self.context)

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
        """One removal as the page and the API run it (see :meth:`EventContext.remove`)."""
        return await self.context.remove(request, on_progress, session=session, source_name=source_name)

    def forget_session(self, request: gr.Request) -> None:
        """The tab closed: delete its scratch files."""
        if request.session_hash:
            self.scratch.discard(request.session_hash)
