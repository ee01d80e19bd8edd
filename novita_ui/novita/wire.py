"""The wire: request bodies with big base64 fields, and how answers and httpx failures become our errors.

This is the only place that maps httpx exceptions to :mod:`novita_ui.errors`. Every string that came from
upstream passes the call's :class:`~novita_ui.novita.scrub.Scrubber` before it is put into a message.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from novita_ui.config import ImageEncoding
from novita_ui.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    MalformedResponseError,
    RateLimitError,
    ResultDownloadError,
    ServerError,
)
from novita_ui.novita.retry import Failure
from novita_ui.novita.scrub import Scrubber

KEY_HELP = "Create one at https://novita.ai/settings/key-management"
DASHBOARD = "https://novita.ai/billing"
MAYBE_BILLED = (
    f"Novita may have received it and started a paid task: check your Novita dashboard ({DASHBOARD}) "
    "before you try again."
)


def _error_fields(response: httpx.Response, scrub: Scrubber) -> tuple[str | None, str]:
    """Novita's ``reason`` and ``message`` from an error body, scrubbed; tolerant of non-JSON bodies."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    reason, message = body.get("reason"), body.get("message")
    return (scrub(reason, limit=80) if reason else None), (scrub(message) if message else "")


def status_failure(response: httpx.Response, scrub: Scrubber) -> Failure:
    """The failure for an HTTP error answer from Novita (one function chooses the error class)."""
    code = response.status_code
    reason, message = _error_fields(response, scrub)
    label = f"{code} {reason}" if reason else str(code)
    after = response.headers.get("Retry-After")
    error: APIStatusError
    if code in (401, 403):
        error = AuthenticationError(
            f"Novita rejected the API key ({label}). Check that the key is correct and active. {KEY_HELP}",
            status_code=code,
            reason=reason,
        )
        return Failure(error, f"Novita rejected the key ({code})", status=code)
    if code == 429:
        error = RateLimitError(
            f"Novita's rate limit was reached ({label}). Wait a minute, then try again.",
            status_code=code,
            reason=reason,
        )
        return Failure(error, f"Novita's rate limit was reached ({code})", status=code, retry_after=after)
    if code >= 500:
        error = ServerError(
            f"Novita had a server problem ({label}). Try again in a few minutes.",
            status_code=code,
            reason=reason,
        )
        return Failure(error, f"Novita is busy ({code})", status=code, retry_after=after)
    if reason == "BILLING_BALANCE_NOT_ENOUGH":
        text = (
            "Your Novita balance is too low for this request. Top up at https://novita.ai/billing and retry."
        )
    else:
        text = f"Novita rejected the request ({label})" + (f": {message}" if message else "") + "."
    return Failure(
        BadRequestError(text, status_code=code, reason=reason), f"Novita refused ({label})", status=code
    )


def transport_failure(error: httpx.TransportError, method: str) -> Failure:
    """Map httpx's transport errors to ours (the only place that does); ``sent`` when it may have arrived."""
    if isinstance(error, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        timeout = APITimeoutError("Could not reach Novita in time. Check your connection and try again.")
        return Failure(timeout, "Could not reach Novita in time")
    if isinstance(error, httpx.ConnectError):
        refused = APIConnectionError("Could not reach Novita. Check your internet connection and try again.")
        return Failure(refused, "Could not reach Novita")
    # The request went out (or part of it): a POST may have created a paid task, so say where to look.
    timed_out = isinstance(error, httpx.TimeoutException)
    cls = APITimeoutError if timed_out else APIConnectionError
    summary = "Novita did not answer in time" if timed_out else "The connection to Novita broke"
    if method == "POST":
        text = f"{summary} after the request was sent. {MAYBE_BILLED}"
    else:
        text = f"{summary}. It may be busy; try again in a minute."
    return Failure(cls(text), summary, sent=True)


def download_failure(task_id: str, problem: int | Literal["no answer", "damaged"]) -> Failure:
    """A result download that failed (an HTTP status, no answer, or bytes that are no image) as our error."""
    status = problem if isinstance(problem, int) else None
    if problem == "no answer":
        text, summary = "could not be downloaded (connection failed). Try again.", "The download failed"
    elif problem == "damaged":
        text, summary = "arrived damaged. Try again.", "The result arrived damaged"
    elif problem in (401, 403, 404, 410):
        text = f"is no longer available (link expired, HTTP {problem}). Run the request again."
        summary = f"The result link expired ({problem})"
    else:
        text = f"could not be downloaded (HTTP {problem}). Try again."
        summary = f"The download failed ({problem})"
    error = ResultDownloadError(f"The result of Novita task {task_id} {text}", task_id=task_id)
    return Failure(error, summary, status=status, sent=True)


def json_object(response: httpx.Response) -> dict[str, Any] | Failure:
    """The JSON object a 2xx answer holds, or a failure when there is none."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        return body
    error = MalformedResponseError("Novita sent an answer that could not be read. Try again.")
    return Failure(error, "Novita's answer could not be read", sent=True)


@dataclass(frozen=True)
class Base64Field:
    """A big JSON string field: ``prefix``, then ``data`` in base64 (see :func:`json_bytes`)."""

    data: bytes
    prefix: str = ""


def json_bytes(body: dict[str, Any]) -> bytes:
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


def eraser_body(
    form: ImageEncoding, image: bytes, mime: str, mask: bytes | None, prompt: str | None, fmt: str
) -> dict[str, Any]:
    """The image-eraser's body, its images in one encoding (Novita does not document which it takes)."""

    # Novita does not document this endpoint's encoding; public clients send data URIs (the default).
    def field(data: bytes, kind: str) -> Base64Field:
        return Base64Field(data) if form == "base64" else Base64Field(data, f"data:{kind};base64,")

    body: dict[str, Any] = {"image": field(image, mime), "output_format": fmt}
    if mask is not None:
        body["mask"] = field(mask, "image/png")
    if prompt:
        body["prompt"] = prompt
    return body
