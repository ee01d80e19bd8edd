"""Async Novita client: one attempt per call, a retry policy above it, polling with a deadline, downloads.

The key travels per call (``api_key=``), never inside the shared ``httpx.AsyncClient``: one connection pool
serves every user of a server while each request carries its own user's key, and nothing but requests built
from ``settings.base_url`` ever gets an Authorization header (result images live on another host).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from . import imaging
from .config import Settings
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InputError,
    MalformedResponseError,
    MissingAPIKeyError,
    RateLimitError,
    ResultDownloadError,
    ServerError,
    TaskFailedError,
    TaskTimeoutError,
)

log = logging.getLogger(__name__)

ERASER_PATH = "/v3/async/image-eraser"
TASK_RESULT_PATH = "/v3/async/task-result"
CLEANUP_PATH = "/v3/cleanup"
KEY_HELP = "Create one at https://novita.ai/settings/key-management"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


Status = Literal["queued", "processing", "succeeded", "failed", "unknown"]


@dataclass(frozen=True)
class TaskProgress:
    """One observation of a running task."""

    task_id: str
    status: Status
    percent: float | None  # 0-100 when Novita reports it
    eta: float | None  # seconds, Novita's own estimate


ProgressCallback = Callable[[TaskProgress], None]


@dataclass(frozen=True)
class ImageResult:
    """A result image as Novita produced it."""

    data: bytes
    format: str  # Pillow's name of the format actually received
    size: tuple[int, int]
    task_id: str | None = None


_STATUSES: dict[str, Status] = {
    "TASK_STATUS_QUEUED": "queued",
    "TASK_STATUS_PROCESSING": "processing",
    "TASK_STATUS_SUCCEED": "succeeded",
    "TASK_STATUS_FAILED": "failed",
}


def retry_delay(
    attempt: int, retry_after: str | None, *, base: float, cap: float, rand: float, now: float | None = None
) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based).

    ``Retry-After`` wins when present, as seconds or as an HTTP date, capped at ``cap``; otherwise
    exponential backoff with jitter (``rand`` in [0, 1) scales the delay between 50 % and 100 %).
    """
    if retry_after:
        value = retry_after.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                seconds = math.nan
            else:
                seconds = when - (time.time() if now is None else now)
        if math.isfinite(seconds):
            return float(min(max(seconds, 0.0), cap))
    backoff: float = min(cap, base * 2.0 ** (attempt - 1))
    return backoff * (0.5 + 0.5 * rand)


def _error_fields(response: httpx.Response) -> tuple[str | None, str]:
    """Novita's ``reason`` and ``message`` from an error body; tolerant of non-JSON bodies."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    reason = body.get("reason")
    message = body.get("message")
    return (str(reason) if reason else None), (str(message)[:300] if message else "")


def status_error(response: httpx.Response, api_key: str | None) -> APIStatusError:
    """The typed error for an HTTP error answer from Novita (one function chooses the class)."""
    code = response.status_code
    reason, message = _error_fields(response)
    if api_key:  # an echoed key must never reach a message
        message = message.replace(api_key, "***")
    label = f"{code} {reason}" if reason else str(code)
    detail = f": {message}" if message else ""
    if code in (401, 403):
        return AuthenticationError(
            f"Novita rejected the API key ({label}). Check that the key is correct and active. {KEY_HELP}",
            status_code=code,
            reason=reason,
        )
    if code == 429:
        return RateLimitError(
            f"Novita's rate limit was reached ({label}). Wait a minute, then try again.",
            status_code=code,
            reason=reason,
        )
    if code >= 500:
        return ServerError(
            f"Novita had a server problem ({label}). Try again in a few minutes.",
            status_code=code,
            reason=reason,
        )
    if reason == "BILLING_BALANCE_NOT_ENOUGH":
        return BadRequestError(
            "Your Novita balance is too low for this request. Top up at https://novita.ai/billing and retry.",
            status_code=code,
            reason=reason,
        )
    return BadRequestError(f"Novita rejected the request ({label}){detail}.", status_code=code, reason=reason)


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
        self._sleep = sleep
        self._clock = clock
        self._rand = rand
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
        api_key: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> ImageResult:
        """Submit an image-eraser task, poll it until done, and download its image."""
        prompt = (prompt or "").strip() or None
        if mask is None and prompt is None:
            raise InputError("Paint a mask or describe what to remove (for example: dog).")
        key = self._key(api_key)
        body: dict[str, Any] = {
            "image": self._encode_eraser_image(image, mime),
            "output_format": output_format,
        }
        if mask is not None:
            body["mask"] = self._encode_eraser_image(mask, "image/png")
        if prompt is not None:
            body["prompt"] = prompt
        answer = await self._request("POST", ERASER_PATH, key, json_body=body)
        task_id = answer.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise MalformedResponseError("Novita accepted the image but returned no task id. Try again.")
        url = await self._wait_for_task(task_id, key, on_progress)
        return await self._download(url, task_id)

    async def cleanup(
        self,
        image: bytes,
        mask: bytes,
        *,
        output_format: imaging.OutputFormat = "png",
        enterprise_plan: bool = False,
        api_key: str | None = None,
    ) -> ImageResult:
        """Run the synchronous cleanup endpoint (base64 in and out)."""
        key = self._key(api_key)
        body = {
            "image_file": Base64Field(image),
            "mask_file": Base64Field(mask),
            "extra": {"response_image_type": output_format, "enterprise_plan": {"enabled": enterprise_plan}},
        }
        answer = await self._request("POST", CLEANUP_PATH, key, json_body=body)
        encoded = answer.get("image_file")
        if not isinstance(encoded, str) or not encoded:
            raise MalformedResponseError("Novita's cleanup answer held no image. Try again.")
        try:
            data = base64.b64decode(encoded, validate=True)
            fmt, size = imaging.probe_image(data)
        except (binascii.Error, ValueError):
            raise MalformedResponseError("Novita's cleanup answer held a damaged image. Try again.") from None
        return ImageResult(data=data, format=fmt, size=size)

    # ---- helpers ------------------------------------------------------------------------------------

    def _key(self, api_key: str | None) -> str:
        key = (api_key or "").strip() or self.settings.api_key
        if not key:
            raise MissingAPIKeyError(
                f"A Novita API key is needed for this engine: enter one, or set NOVITA_API_KEY. {KEY_HELP}. "
                "The Offline engine works without a key."
            )
        return key

    def _encode_eraser_image(self, data: bytes, mime: str) -> Base64Field:
        # Novita does not document this endpoint's encoding; public clients send data URIs (the default).
        if self.settings.eraser_image_encoding == "base64":
            return Base64Field(data)
        return Base64Field(data, f"data:{mime};base64,")

    async def _request(
        self,
        method: str,
        path: str,
        key: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One API call with the retry policy; returns the JSON object answered."""
        # Which failures may be retried. GETs are harmless to repeat. A POST that creates a paid task is
        # retried only when Novita cannot have accepted it: 429 and 5xx (Novita's docs ask for backoff on
        # them; they are answered before a task exists) and failures to connect (nothing was sent). A read
        # timeout or a connection dropped after the body went out may hide an accepted task: retrying could
        # bill the user twice, so those surface as errors instead.
        is_post = method == "POST"
        url = self.settings.base_url.rstrip("/") + path
        content = _json_bytes(json_body) if json_body is not None else None
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            retry_after: str | None = None
            try:
                response = await self._http.request(
                    method, url, content=content, params=params, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                failure: Exception = self._connection_error(error)
            except httpx.TimeoutException as error:
                failure = self._connection_error(error)
                if is_post:
                    raise failure from None
            except httpx.TransportError as error:
                failure = self._connection_error(error)
                if is_post:
                    raise failure from None
            else:
                if response.status_code < 400:
                    return self._json_object(response)
                failure = status_error(response, key)
                if response.status_code not in RETRYABLE_STATUSES:
                    raise failure
                retry_after = response.headers.get("Retry-After")
            log.info("novita %s %s failed (attempt %d/%d): %s", method, path, attempt, attempts, failure)
            if attempt == attempts:
                raise failure
            delay = retry_delay(
                attempt,
                retry_after,
                base=self.settings.backoff_base,
                cap=self.settings.max_retry_delay,
                rand=self._rand(),
            )
            await self._sleep(delay)
        raise AssertionError("unreachable")  # the loop always returns or raises

    @staticmethod
    def _connection_error(error: httpx.TransportError) -> APIConnectionError:
        """Map httpx's transport errors to ours (the only place that does)."""
        if isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return APITimeoutError("Could not reach Novita in time. Check your connection and try again.")
        if isinstance(error, httpx.TimeoutException):
            return APITimeoutError("Novita did not answer in time. It may be busy; try again in a minute.")
        if isinstance(error, httpx.ConnectError):
            return APIConnectionError("Could not reach Novita. Check your internet connection and try again.")
        return APIConnectionError(
            "The connection to Novita broke before it answered. If you were charged, the result may still "
            "appear in your Novita dashboard; otherwise try again."
        )

    @staticmethod
    def _json_object(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            raise MalformedResponseError("Novita sent an answer that could not be read. Try again.")
        return body

    async def _wait_for_task(self, task_id: str, key: str, on_progress: ProgressCallback | None) -> str:
        """Poll until the task succeeds (returning its image URL), fails, or the deadline passes."""
        settings = self.settings
        deadline = self._clock() + settings.poll_deadline
        interval = settings.poll_min_interval
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise TaskTimeoutError(
                    f"Novita task {task_id} did not finish within {settings.poll_deadline:.0f} s. "
                    "It may still complete; try again later.",
                    task_id=task_id,
                )
            await self._sleep(min(interval, remaining))
            answer = await self._poll_once(task_id, key)
            task = answer.get("task") if isinstance(answer.get("task"), dict) else {}
            assert isinstance(task, dict)
            status: Status = _STATUSES.get(str(task.get("status")), "unknown")
            eta = _number(task.get("eta"))
            if on_progress is not None:
                on_progress(TaskProgress(task_id, status, _number(task.get("progress_percent")), eta))
            if status == "succeeded":
                return self._image_url(answer, task_id)
            if status == "failed":
                reason = str(task.get("reason") or "no reason given")
                raise TaskFailedError(
                    f"Novita task {task_id} failed: {reason}", task_id=task_id, reason=reason
                )
            interval = self._next_interval(interval, eta)

    def _next_interval(self, interval: float, eta: float | None) -> float:
        """Back off while a task runs; use Novita's ETA to sleep long early and poll briskly near the end."""
        low, high = self.settings.poll_min_interval, self.settings.poll_max_interval
        if eta is not None and eta > 0:
            return min(high, max(low, eta - 1.0))
        return min(high, interval * 1.5)

    async def _poll_once(self, task_id: str, key: str) -> dict[str, Any]:
        try:
            return await self._request("GET", TASK_RESULT_PATH, key, params={"task_id": task_id})
        except BadRequestError as error:
            if error.reason == "TASK_NOT_FOUND" or error.status_code == 404:
                raise TaskFailedError(
                    f"Novita no longer knows task {task_id} (TASK_NOT_FOUND). Run the request again.",
                    task_id=task_id,
                    reason="TASK_NOT_FOUND",
                ) from None
            raise

    @staticmethod
    def _image_url(answer: dict[str, Any], task_id: str) -> str:
        images = answer.get("images")
        first = images[0] if isinstance(images, list) and images else None
        url = first.get("image_url") if isinstance(first, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ResultDownloadError(
                f"Novita task {task_id} finished but gave no image link. Try again.", task_id=task_id
            )
        return url

    async def _download(self, url: str, task_id: str) -> ImageResult:
        """Fetch the result from the object store: no Authorization header, retries on transient failures."""
        attempts = self.settings.download_attempts
        problem = "could not be downloaded"
        for attempt in range(1, attempts + 1):
            try:
                response = await self._http.get(url, follow_redirects=True)
            except httpx.TransportError:
                problem = "could not be downloaded (connection failed)"
            else:
                if response.status_code in (401, 403, 404, 410):
                    raise ResultDownloadError(
                        f"The result of Novita task {task_id} is no longer available (link expired, "
                        f"HTTP {response.status_code}). Run the request again.",
                        task_id=task_id,
                    )
                if response.status_code < 400:
                    try:
                        fmt, size = imaging.probe_image(response.content)
                    except ValueError:
                        problem = "arrived damaged"
                    else:
                        return ImageResult(data=response.content, format=fmt, size=size, task_id=task_id)
                else:
                    problem = f"could not be downloaded (HTTP {response.status_code})"
            if attempt < attempts:
                await self._sleep(
                    retry_delay(attempt, None, base=self.settings.backoff_base, cap=5.0, rand=self._rand())
                )
        raise ResultDownloadError(
            f"The result of Novita task {task_id} {problem}. Try again.", task_id=task_id
        )


@dataclass(frozen=True)
class Base64Field:
    """A big JSON string field: ``prefix``, then ``data`` in base64 (see :func:`_json_bytes`)."""

    data: bytes
    prefix: str = ""


def _json_bytes(body: dict[str, Any]) -> bytes:
    """JSON for a body whose big fields are :class:`Base64Field`: their base64 goes into the output as the
    bytes b64encode made, in one join. Base64 never needs escaping, so building str values and running
    ``json.dumps`` over 8 MB (scan, escape check, str and bytes copies) would only cost time (~60 ms)."""
    fields = {k: v for k, v in body.items() if isinstance(v, Base64Field)}
    rest = json.dumps({k: v for k, v in body.items() if k not in fields}).encode()
    if not fields:
        return rest
    parts: list[bytes] = []
    for key, field in fields.items():
        prefix = json.dumps(field.prefix).encode()  # quoted and escaped: safe whatever it holds
        parts += [json.dumps(key).encode(), b":", prefix[:-1], base64.b64encode(field.data), b'",']
    parts[-1] = b'"'
    return b"".join([b"{", *parts, b"," if len(rest) > 2 else b"", rest[1:]])


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]  # Novita sends ints, floats or numeric strings
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
