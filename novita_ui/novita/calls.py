"""One call to the Novita API: whose key it carries and whom it tells (:class:`Call`), one HTTP attempt, an
API call under the retry policy above it, and a result's download from the object store (which never gets
the Authorization header). ``client`` builds each endpoint's work on a :class:`Transport`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from novita_ui.config import Settings
from novita_ui.errors import BudgetExhaustedError, MissingAPIKeyError
from novita_ui.normalise import text_or_none
from novita_ui.novita import retry
from novita_ui.novita.retry import Failure, Sleep
from novita_ui.novita.scrub import Scrubber
from novita_ui.novita.tasks import ProgressCallback, TaskProgress
from novita_ui.novita.wire import (
    KEY_HELP,
    download_failure,
    json_bytes,
    json_object,
    status_failure,
    transport_failure,
)
from novita_ui.pixels import results


class SpendBudget(Protocol):
    """Something that may refuse a paid request (``guard.SpendGuard``)."""

    def try_acquire(self) -> bool:
        """Take a slot, or False when none is left."""

    def refusal(self) -> str:
        """The sentence for a refused request."""


@dataclass(frozen=True)
class ImageResult:
    """A result image as Novita produced it."""

    data: bytes
    format: str  # Pillow's name of the format actually received
    size: tuple[int, int]
    task_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class CallOptions:
    """Whom a public call is for: their key (None: the settings'), whom to tell how it goes, what may veto a
    paid POST, and their session (its first 8 characters go into the log line of a task's creation)."""

    api_key: str | None = field(default=None, repr=False)
    on_progress: ProgressCallback | None = None
    budget: SpendBudget | None = None
    session: str | None = None


@dataclass
class Call:
    """One public call: its key, its scrubber, whom to tell, what may veto a POST, its task once created."""

    key: str
    scrub: Scrubber
    on_progress: ProgressCallback | None
    budget: SpendBudget | None
    task_id: str | None = None  # as shown to people (scrubbed)

    def tell(self, progress: TaskProgress) -> None:
        if self.on_progress is not None:
            self.on_progress(progress)

    def notify(self, text: str) -> None:
        """A retry or a failed check, said to the user (naming the task once one exists)."""
        self.tell(TaskProgress(self.task_id, "retrying", note=text))

    def charge(self) -> None:
        """Before each POST attempt: every one of them may bill, so every one takes a slot."""
        if self.budget is not None and not self.budget.try_acquire():
            raise BudgetExhaustedError(self.budget.refusal())



class Transport:
    """The HTTP side every endpoint shares: one connection pool, one attempt per call, the retry policies."""

    def __init__(
        self, settings: Settings, http: httpx.AsyncClient, sleep: Sleep, rand: Callable[[], float]
    ) -> None:
        self.settings = settings
        self.http = http
        self._api_policy = retry.Policy(
            settings.max_attempts, settings.backoff_base, settings.max_retry_delay, sleep, rand
        )
        self._download_policy = retry.Policy(
            settings.download_attempts, settings.backoff_base, 5.0, sleep, rand
        )

    def call(self, options: CallOptions) -> Call:
        """A public call on the user's key, else the settings' (MissingAPIKeyError when neither is set)."""
        key = text_or_none(options.api_key) or self.settings.api_key
        if not key:
            raise MissingAPIKeyError(
                f"A Novita API key is needed for this engine: enter one, or set NOVITA_API_KEY. {KEY_HELP}. "
                "The Offline engine works without a key."
            )
        return Call(key, Scrubber([key, self.settings.api_key]), options.on_progress, options.budget)

    def request_parts(
        self, call: Call, path: str, json_body: dict[str, Any] | None
    ) -> tuple[str, dict[str, str], bytes | None]:
        """The URL, headers (the call's key among them: only for the API base) and JSON body of a request."""
        url = self.settings.base_url.rstrip("/") + path
        headers = {"Authorization": f"Bearer {call.key}", "Accept": "application/json"}
        content = json_bytes(json_body) if json_body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        return url, headers, content

    async def attempt(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        params: dict[str, str] | None,
        scrub: Scrubber,
    ) -> dict[str, Any] | Failure:
        """One HTTP exchange with the API: the JSON object answered, or the failure."""
        try:
            response = await self.http.request(method, url, content=content, params=params, headers=headers)
        except httpx.TransportError as error:
            return transport_failure(error, method)
        if response.status_code >= 400:
            return status_failure(response, scrub)
        return json_object(response)

    async def api(
        self, call: Call, method: str, path: str, *, json_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One API call under the retry policy; returns the JSON object answered."""
        url, headers, content = self.request_parts(call, path, json_body)
        return await retry.run(
            self._api_policy,
            method,
            path,
            lambda: self.attempt(method, url, headers, content, None, call.scrub),
            notify=call.notify,
            before_post=call.charge,
        )

    async def download(self, url: str, call: Call) -> ImageResult:
        """Fetch the result from the object store: no Authorization header, the same retry policy."""
        task_id = call.task_id or ""

        async def attempt() -> ImageResult | Failure:
            try:
                response = await self.http.get(url, follow_redirects=True)
            except httpx.TransportError:
                return download_failure(task_id, "no answer")
            if response.status_code >= 400:
                return download_failure(task_id, response.status_code)
            try:
                fmt, size = results.probe_image(response.content)
            except ValueError:
                return download_failure(task_id, "damaged")
            return ImageResult(data=response.content, format=fmt, size=size, task_id=task_id)

        return await retry.run(self._download_policy, "GET", "result download", attempt, notify=call.notify)
