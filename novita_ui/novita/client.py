"""Async Novita client: each endpoint's work (the eraser's task: submit, poll with a deadline, download;
cleanup and remove-text in one answer) on the calls of ``calls.Transport`` (one attempt, the retry policy).

The key travels per call (``CallOptions.api_key``), never inside the shared ``httpx.AsyncClient``: one
connection pool serves every user of a server while each request carries its own user's key, and nothing but
requests built from ``settings.base_url`` ever gets an Authorization header (result images live on another
host). Every string that came from upstream (reasons, messages, task ids) passes the call's scrubber before
anyone sees it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from novita_ui.config import ImageEncoding, Settings
from novita_ui.errors import (
    APIStatusError,
    BadRequestError,
    InputError,
    MalformedResponseError,
    NovitaUIError,
    ResultDownloadError,
    TaskFailedError,
    TaskTimeoutError,
)
from novita_ui.normalise import mask_or_prompt_problem, text_or_none
from novita_ui.novita.calls import Call, CallOptions, ImageResult, Transport
from novita_ui.novita.retry import Failure, Sleep, retry_delay, seconds_text, should_retry
from novita_ui.novita.tasks import PollSchedule, ProgressCallback, TaskProgress, read_task
from novita_ui.novita.wire import DASHBOARD, KEY_HELP, Base64Field, eraser_body
from novita_ui.pixels import imaging, results

__all__ = [
    "KEY_HELP",
    "CallOptions",
    "ImageResult",
    "NovitaClient",
    "ProgressCallback",
    "TaskProgress",
    "retry_delay",
]

log = logging.getLogger(__name__)

ERASER_PATH = "/v3/async/image-eraser"
TASK_RESULT_PATH = "/v3/async/task-result"
CLEANUP_PATH = "/v3/cleanup"
REMOVE_TEXT_PATH = "/v3/remove-text"
# A 400 with one of these reasons may mean "wrong image encoding"; a 400 creates no task, so trying the other
# encoding once costs nothing.
ENCODING_REASONS = frozenset({"INVALID_REQUEST_BODY", "INVALID_IMAGE_FORMAT"})

Clock = Callable[[], float]


def _no_request_lines(record: logging.LogRecord) -> bool:
    """httpx logs each request's URL at INFO, and a task-result URL holds an upstream-made task id."""
    return record.levelno > logging.INFO


class NovitaClient:
    """Talks to Novita's image-eraser, task-result and cleanup endpoints."""

    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        logging.getLogger("httpx").addFilter(_no_request_lines)  # added once: the same function each time
        self._sleep = sleep
        self._clock = clock
        self._rand = rand
        # The eraser encoding that worked last ("auto" setting): a client's own, so two clients (or tests)
        # never see each other's; the web app and the CLI hold one client for their process's life.
        self._eraser_form: ImageEncoding = "data_uri"
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.write_timeout,
                pool=settings.connect_timeout,
            ),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            headers={"User-Agent": "novita-ui/0.1"},
            follow_redirects=False,  # a redirect must never carry the key to another host
        )
        self._transport = Transport(settings, self._http, sleep, rand)

    async def aclose(self) -> None:
        """Close the connection pool (when this client created it)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> NovitaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- public calls -------------------------------------------------------------------------------

    async def erase(
        self,
        image: bytes,
        *,
        mime: str = "image/jpeg",
        mask: bytes | None = None,
        prompt: str | None = None,
        output_format: imaging.OutputFormat = "jpeg",
        options: CallOptions | None = None,
    ) -> ImageResult:
        """Submit an image-eraser task, poll it until done, and download its image.

        ``options.budget`` is charged once per POST attempt; ``options.session`` (its first 8 characters)
        goes into the log line that records the task's creation.
        """
        prompt = text_or_none(prompt)
        if problem := mask_or_prompt_problem("eraser", mask is not None, prompt):
            raise InputError(problem)
        options = options or CallOptions()
        session = options.session
        call = self._transport.call(options)
        raw_id = await self._submit_eraser(call, image, mime, mask, prompt, output_format)
        call.task_id = shown = call.scrub(raw_id, limit=120)
        log.info(
            "novita task %s created (engine eraser%s)", shown, f", session {session[:8]}" if session else ""
        )
        call.tell(TaskProgress(shown, "created", note=f"Novita task {shown} created; waiting for it"))
        try:
            url = await self._wait_for_task(raw_id, call)
            return await self._transport.download(url, call)
        except NovitaUIError as error:
            _name_task(error, shown)
            raise

    async def cleanup(
        self,
        image: bytes,
        mask: bytes,
        *,
        output_format: imaging.OutputFormat = "png",
        enterprise_plan: bool = False,
        options: CallOptions | None = None,
    ) -> ImageResult:
        """Run the synchronous cleanup endpoint (base64 in and out)."""
        call = self._transport.call(options or CallOptions())
        body = {
            "image_file": Base64Field(image),
            "mask_file": Base64Field(mask),
            "extra": {"response_image_type": output_format, "enterprise_plan": {"enabled": enterprise_plan}},
        }
        return await self._synchronous(call, CLEANUP_PATH, body, "cleanup")

    async def remove_text(
        self,
        image: bytes,
        *,
        output_format: imaging.OutputFormat = "png",
        options: CallOptions | None = None,
    ) -> ImageResult:
        """Run the synchronous remove-text endpoint: Novita finds the text itself (no mask)."""
        call = self._transport.call(options or CallOptions())
        # ``extra.response_image_type`` is documented for the other synchronous endpoints, not this one:
        # sent anyway (the python SDK sends ``extra`` too), and whatever image type comes back is read.
        body = {"image_file": Base64Field(image), "extra": {"response_image_type": output_format}}
        return await self._synchronous(call, REMOVE_TEXT_PATH, body, "remove-text")

    async def _synchronous(self, call: Call, path: str, body: dict[str, Any], name: str) -> ImageResult:
        """POST a synchronous image endpoint; its answer's ``image_file`` (base64, or a data URI) decoded."""
        answer = await self._transport.api(call, "POST", path, json_body=body)
        encoded = answer.get("image_file")
        if not isinstance(encoded, str) or not encoded:
            raise MalformedResponseError(f"Novita's {name} answer held no image. Try again.")
        if encoded.startswith("data:") and "," in encoded:
            encoded = encoded.split(",", 1)[1]  # read tolerantly: a data URI holds the same base64
        try:
            data = base64.b64decode(encoded, validate=True)
            fmt, size = results.probe_image(data)
        except (binascii.Error, ValueError):
            raise MalformedResponseError(f"Novita's {name} answer held a damaged image. Try again.") from None
        return ImageResult(data=data, format=fmt, size=size)

    # ---- image-eraser: submit, poll, download -------------------------------------------------------

    async def _submit_eraser(
        self, call: Call, image: bytes, mime: str, mask: bytes | None, prompt: str | None, fmt: str
    ) -> str:
        """Create the task (one task at most); returns Novita's task id as sent (unscrubbed: it is polled)."""
        setting = self.settings.eraser_image_encoding
        form: ImageEncoding = setting if setting != "auto" else self._eraser_form
        try:
            answer = await self._transport.api(
                call, "POST", ERASER_PATH, json_body=eraser_body(form, image, mime, mask, prompt, fmt)
            )
        except BadRequestError as error:
            if setting != "auto" or error.status_code != 400 or error.reason not in ENCODING_REASONS:
                raise
            other: ImageEncoding = "base64" if form == "data_uri" else "data_uri"
            answer = await self._transport.api(
                call, "POST", ERASER_PATH, json_body=eraser_body(other, image, mime, mask, prompt, fmt)
            )
            if self._eraser_form != other:
                log.warning(
                    "Novita's image-eraser refused %s images (%s); sending %s from now on",
                    form,
                    error.reason,
                    other,
                )
            self._eraser_form = other
        task_id = answer.get("task_id")
        if isinstance(task_id, int) and not isinstance(task_id, bool):
            task_id = str(task_id)
        if not isinstance(task_id, str) or not task_id.strip():
            raise MalformedResponseError(
                "Novita accepted the image but returned no task id. Check your Novita dashboard "
                f"({DASHBOARD}) before you try again."
            )
        return task_id.strip()

    async def _wait_for_task(self, raw_id: str, call: Call) -> str:
        """Poll until the task succeeds (returning its image URL), fails, or the deadline passes."""
        settings, task_id = self.settings, call.task_id or ""
        url, headers, _ = self._transport.request_parts(call, TASK_RESULT_PATH, None)
        created = self._clock()
        deadline = created + settings.poll_deadline
        schedule = PollSchedule(settings, created)
        wait, failures, problem = schedule.first_wait(), 0, ""
        while (remaining := deadline - self._clock()) > 0:
            await self._sleep(min(wait, remaining))
            params = {"task_id": raw_id}
            outcome = await self._transport.attempt("GET", url, headers, None, params, call.scrub)
            if isinstance(outcome, Failure):
                failures += 1
                problem = f" (the last status checks failed: {outcome.summary})"
                wait = self._poll_failed(outcome, call, schedule, failures)
                continue
            failures, problem = 0, ""
            state = read_task(outcome)
            call.tell(TaskProgress(task_id, state.status, state.percent, state.eta))
            if state.status == "succeeded":
                if state.image_url is None:
                    raise ResultDownloadError(
                        f"Novita task {task_id} finished but gave no image link. Try again.", task_id=task_id
                    )
                return state.image_url
            if state.status == "failed":
                reason = call.scrub(state.reason or "no reason given")
                raise TaskFailedError(
                    f"Novita task {task_id} failed: {reason}", task_id=task_id, reason=reason
                )
            wait = schedule.after_poll(self._clock(), state.eta)
        raise TaskTimeoutError(
            f"Novita task {task_id} did not finish within {settings.poll_deadline:.0f} s{problem}. It may "
            f"still complete: look for it in your Novita dashboard ({DASHBOARD}), or try again later.",
            task_id=task_id,
        )

    def _poll_failed(self, failure: Failure, call: Call, schedule: PollSchedule, failures: int) -> float:
        """A poll failed: the task exists and is paid for, so keep checking (backing off) unless gone."""
        task_id = call.task_id or ""
        reason = failure.error.reason if isinstance(failure.error, APIStatusError) else None
        if failure.status == 404 or reason == "TASK_NOT_FOUND":
            raise TaskFailedError(
                f"Novita no longer knows task {task_id} (TASK_NOT_FOUND). Run the request again.",
                task_id=task_id,
                reason="TASK_NOT_FOUND",
            )
        if not should_retry("GET", failure):
            raise failure.error
        delay = retry_delay(
            failures,
            failure.retry_after,
            base=self.settings.backoff_base,
            cap=self.settings.poll_backoff_cap,
            rand=self._rand(),
        )
        wait = schedule.after_failure(self._clock(), delay)
        log.info(
            "novita task %s: status check failed (%s); checking again in %.1f s", task_id, failure.error, wait
        )
        call.notify(f"{failure.summary}; checking task {task_id} again in {seconds_text(wait)}")
        return wait

def _name_task(error: NovitaUIError, task_id: str) -> None:
    """Every message after a task exists names it (support needs the id to trace it)."""
    if task_id and task_id not in str(error):
        error.args = (f"{error} (Novita task {task_id})",)
