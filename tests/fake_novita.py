"""A fake Novita AI server: real HTTP on loopback, with scripted scenarios.

Two listeners run in background threads:

* the API (``url``, 127.0.0.1) serves ``POST /v3/async/image-eraser``, ``GET /v3/async/task-result``
  ``POST /v3/cleanup`` and ``POST /v3/remove-text`` behind ``Authorization: Bearer <key>`` (else 401
  ``MISSING_API_KEY``, or 403 ``INVALID_API_KEY`` for a key not in ``valid_keys``; ``valid_keys=None``
  accepts any key);
* the "object store" (``store_url``, 127.0.0.2) serves result images at ``/results/<token>.<ext>``
  without auth, standing in for the presigned S3 bucket on another host. Its requests are recorded
  too, so tests can prove the Novita key never reaches it. Linux routes all of 127/8 to loopback;
  where binding 127.0.0.2 fails, the store falls back to the API's host on another port
  (``store_host`` tells which).

The "model" paints erased pixels (mask > 127) with the flat colour ``FILL`` and keeps every other
pixel, so tests can check exactly what changed. ``fill = "checker"`` paints a 1-pixel black/white
checkerboard instead: fine detail that survives only if the removed area was processed at full size.
Every eraser/cleanup submit records the size and byte count it received (``extras["image_size"]``,
``extras["image_bytes"]``; also ``sizes_received()``), so tests can assert the scale sent. A prompt
without a mask erases ``central_box``. Remove-text's "text" is ink of the colour ``TEXT_INK``: the fake
paints it (grown 2 px) with ``FILL`` and, like a service that re-encodes, answers the WHOLE image as a JPEG
of quality ``TEXT_QUALITY`` whatever type was asked for, so every other pixel comes back a little off.

Scripting API (thread-safe; read when a request arrives):

* ``latency`` / ``store_latency``: seconds each API / store answer sleeps, in its own thread.
* ``fail_next(endpoint, *faults)``: queue one-shot faults for "eraser", "task", "cleanup", "remove-text" or
  "store". Each next request to that endpoint consumes one, in order, before auth is checked.
  ``Fault.status(code, retry_after=, reason=, body=)``, ``Fault.malformed_json()``,
  ``Fault.html_502()``, ``Fault.drop_connection()``, ``Fault.delay(seconds)``; store only:
  ``Fault.expired()``, ``Fault.not_found()``, ``Fault.truncated(cut_connection=False)``, ``Fault.corrupt()``;
  cleanup and remove-text only: ``Fault.invalid_base64()``. ``http_date(s)`` makes an HTTP-date
  ``Retry-After``.
  ``Fault.echo_auth(code)`` answers an error whose ``reason`` and ``message`` quote the request's
  ``Authorization`` header back (as a careless upstream or proxy might).
* ``task_plan = TaskPlan(...)``: how tasks created from now on answer polls (default: done at once);
  ``finish_tasks()`` ends the tasks created so far at their next poll (for ``never_finish`` plans);
  it can also pin the eta, send numbers as strings, succeed without images, or quote the
  ``Authorization`` header in the task id and in a failed task's reason.
* ``eraser_image_forms``: which encodings the eraser accepts (default both "data_uri" and "base64").
* ``requests``, ``requests_to(prefix)``, ``keys_seen``, ``tasks``: what arrived. ``clear()``
  forgets the requests; ``reset()`` forgets everything (faults, plan, latency, tasks too).

Example::

    with running_fake_novita() as fake:
        fake.task_plan = TaskPlan(queued_polls=1, processing_polls=2)
        fake.fail_next("eraser", Fault.status(429, retry_after="2"), Fault.drop_connection())
        ...  # point the client at fake.url with the key TEST_KEY
        store = fake.requests_to("/results/")
        assert store and all("authorization" not in r.headers for r in store)

By hand: ``python -m tests.fake_novita --port 8765 --latency 0.5 --queued-polls 2``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import email.utils
import io
import json
import math
import re
import signal
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import cv2
import numpy as np
from PIL import Image

TEST_KEY = "sk_test_key"
FILL = (0, 200, 0)
TEXT_INK = (255, 0, 255)  # remove-text's "text": pixels near this colour are what the fake removes
TEXT_QUALITY = 80
MAX_PIXELS = 16_000_000
MAX_BYTES = 30 * 1024 * 1024
FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
ENDPOINTS = ("eraser", "task", "cleanup", "remove-text", "store")

QUEUED, PROCESSING = "TASK_STATUS_QUEUED", "TASK_STATUS_PROCESSING"
SUCCEED, FAILED, UNKNOWN = "TASK_STATUS_SUCCEED", "TASK_STATUS_FAILED", "TASK_STATUS_UNKNOWN"

_ROUTES = {
    ("api", "POST", "/v3/async/image-eraser"): "eraser",
    ("api", "GET", "/v3/async/task-result"): "task",
    ("api", "POST", "/v3/cleanup"): "cleanup",
    ("api", "POST", "/v3/remove-text"): "remove-text",
}
_DATA_URI = re.compile(r"^data:[^,;]*(;[^,;]*)*;base64,", re.IGNORECASE)
_S3_ERROR = "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{}</Code><Message>{}</Message></Error>"
_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def http_date(seconds_from_now: float) -> str:
    """An HTTP-date (RFC 9110) for a ``Retry-After`` header, ``seconds_from_now`` in the future."""
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


def central_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) box a prompt-only request erases: the middle third each way."""
    return width // 3, height // 3, (2 * width) // 3, (2 * height) // 3


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, consumed by one request. Build it with the class methods."""

    kind: str
    code: int = 200
    retry_after: str | None = None
    reason: str | None = None
    body: dict[str, Any] | None = None
    seconds: float = 0.0
    cut_connection: bool = False
    release: threading.Event | None = None

    @classmethod
    def status(
        cls,
        code: int,
        retry_after: str | float | None = None,
        body: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> Fault:
        """An error: JSON ``{"code","reason","message"}``; ``body`` replaces it, ``reason`` renames it."""
        after = None if retry_after is None else str(retry_after)
        return cls("status", code=code, retry_after=after, body=body, reason=reason)

    @classmethod
    def malformed_json(cls) -> Fault:
        """HTTP 200, ``application/json``, body ``{"task_id": `` (cut short)."""
        return cls("malformed_json")

    @classmethod
    def html_502(cls) -> Fault:
        """HTTP 502 with an nginx ``text/html`` page, as a proxy in front of the API would send."""
        return cls("html_502", code=502)

    @classmethod
    def drop_connection(cls) -> Fault:
        """Read the request, then close the socket without answering (httpx: ``RemoteProtocolError``)."""
        return cls("drop_connection")

    @classmethod
    def echo_auth(cls, code: int = 400) -> Fault:
        """An error answer whose ``reason`` and ``message`` quote the ``Authorization`` header it got."""
        return cls("echo_auth", code=code)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally after ``seconds`` (on top of ``latency``): for read-timeout tests."""
        return cls("delay", seconds=seconds)

    @classmethod
    def hold(cls, release: threading.Event, limit: float = 120.0) -> Fault:
        """Answer normally once ``release`` is set (or after ``limit`` s): a request slow for exactly as long
        as the test needs, instead of a guessed number of real seconds."""
        return cls("hold", seconds=limit, release=release)

    @classmethod
    def expired(cls) -> Fault:
        """Store only: 403 with S3's XML ``AccessDenied`` / ``Request has expired``."""
        return cls("expired", code=403)

    @classmethod
    def not_found(cls) -> Fault:
        """Store only: 404 with S3's XML ``NoSuchKey``."""
        return cls("not_found", code=404)

    @classmethod
    def truncated(cls, cut_connection: bool = False) -> Fault:
        """Store only: 200 with the first half of the image. ``Content-Length`` matches the half,
        unless ``cut_connection``: then it announces the full size and the socket closes early."""
        return cls("truncated", cut_connection=cut_connection)

    @classmethod
    def corrupt(cls) -> Fault:
        """Store only: 200 with the image's middle bytes scrambled; its header and end marker are whole,
        so only decoding the pixels finds the damage."""
        return cls("corrupt")

    @classmethod
    def invalid_base64(cls) -> Fault:
        """Cleanup only: 200 ``{"image_file": "!!!not base64!!!", "image_type": "png"}``."""
        return cls("invalid_base64")


_FAULT_ENDPOINTS = {
    "expired": {"store"},
    "not_found": {"store"},
    "truncated": {"store"},
    "corrupt": {"store"},
    "invalid_base64": {"cleanup", "remove-text"},
}


@dataclass(frozen=True)
class TaskPlan:
    """How a task answers successive polls. The default finishes (SUCCEED) on the first poll.

    Counted mode: ``unknown_status_polls`` polls answer TASK_STATUS_UNKNOWN, then ``queued_polls``
    QUEUED (progress 0), then ``processing_polls`` PROCESSING with rising progress, then the end:
    FAILED with ``fail_reason`` if set, else SUCCEED. ``never_finish`` stays PROCESSING forever.
    Timed mode (``duration`` set): the task ends once ``duration`` seconds have passed since submit,
    whatever the counts; before that, after the UNKNOWN and QUEUED polls, it answers PROCESSING with
    progress = elapsed fraction and eta = remaining seconds rounded up.
    """

    queued_polls: int = 0
    processing_polls: int = 0
    fail_reason: str | None = None
    never_finish: bool = False
    duration: float | None = None
    unknown_status_polls: int = 0
    image_url_ttl: int | str = 3600  # Novita's examples sometimes send it as a string
    fixed_eta: int | None = None  # while running, always report this eta (a stuck estimate)
    numbers_as_strings: bool = False  # eta, progress_percent, image_url_ttl sent as "1", "50", "3600"
    no_images: bool = False  # SUCCEED with an empty ``images`` list
    echo_authorization: bool = False  # the task id and a FAILED reason quote the Authorization header

    def state(self, poll: int, elapsed: float) -> tuple[str, int, int]:
        """(status, eta seconds, progress percent) of the 0-based ``poll``, ``elapsed`` s after submit."""
        if self.duration is not None and elapsed >= self.duration and not self.never_finish:
            return self._end()
        if poll < self.unknown_status_polls:
            return UNKNOWN, 0, 0
        poll -= self.unknown_status_polls
        if poll < self.queued_polls:
            return QUEUED, self._eta(elapsed, self.queued_polls - poll + self.processing_polls), 0
        poll -= self.queued_polls
        if self.never_finish:
            return PROCESSING, 5, 50
        if self.duration is not None:
            return PROCESSING, self._eta(elapsed, 0), min(99, int(100 * elapsed / self.duration))
        if poll < self.processing_polls:
            return PROCESSING, self.processing_polls - poll, 100 * (poll + 1) // (self.processing_polls + 1)
        return self._end()

    def _eta(self, elapsed: float, polls_left: int) -> int:
        # Counted mode has no clock, so one poll left is reported as one second left.
        return polls_left if self.duration is None else max(1, math.ceil(self.duration - elapsed))

    def _end(self) -> tuple[str, int, int]:
        return (FAILED, 0, 0) if self.fail_reason is not None else (SUCCEED, 0, 100)


@dataclass
class RecordedRequest:
    """One request as it arrived. ``extras`` holds decoded artefacts of eraser/cleanup submits:
    ``image_size`` (w, h), ``mask`` (uint8 H x W as sent, after convert("L"); None for prompt-only),
    ``mask_form``, ``output_format``, ``prompt`` and, for the eraser, ``task_id``."""

    host: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    time: float
    image_form: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Task:
    """An eraser task: its plan (fixed at submit), poll count and the result the store will serve."""

    task_id: str
    plan: TaskPlan
    created: float
    image_url: str
    image_type: str
    result: bytes
    polls: int = 0


@dataclass(frozen=True)
class _Reply:
    """An HTTP answer; ``declared_length`` lies about the size to simulate a cut transfer."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    declared_length: int | None = None


class ApiError(Exception):
    """A Novita-style error answer raised by validation."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def _json_reply(status: int, obj: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, json.dumps(obj).encode(), headers=headers or {})


def _error_reply(code: int, reason: str, message: str, headers: dict[str, str] | None = None) -> _Reply:
    return _json_reply(code, {"code": code, "reason": reason, "message": message, "metadata": {}}, headers)


def _default_reason(code: int, endpoint: str) -> str:
    if code == 500:
        return "GET_RESULT_FAILED" if endpoint == "task" else "CREATE_TASK_FAILED"
    reasons = {
        400: "INVALID_REQUEST_BODY",
        401: "MISSING_API_KEY",
        403: "INVALID_API_KEY",
        404: "API_NOT_FOUND",
        429: "RATE_LIMIT_EXCEEDED",
        502: "BAD_GATEWAY",
        503: "SERVICE_UNAVAILABLE",
        504: "GATEWAY_TIMEOUT",
    }
    return reasons.get(code, "UNKNOWN_ERROR")


def _s3_error(code: int, s3_code: str, message: str) -> _Reply:
    return _Reply(code, _S3_ERROR.format(s3_code, message).encode(), "application/xml")


def _fault_reply(fault: Fault, endpoint: str) -> _Reply | None:
    """The canned answer of a fault that replaces the normal one (None = drop the connection)."""
    if fault.kind == "status":
        reason = fault.reason or _default_reason(fault.code, endpoint)
        body = fault.body or {"code": fault.code, "reason": reason, "message": f"scripted {fault.code} fault"}
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        return _json_reply(fault.code, body, headers)
    canned = {
        "malformed_json": _Reply(200, b'{"task_id": '),
        "html_502": _Reply(502, _HTML_502.encode(), "text/html"),
        "expired": _s3_error(403, "AccessDenied", "Request has expired"),
        "not_found": _s3_error(404, "NoSuchKey", "The specified key does not exist."),
        "invalid_base64": _json_reply(200, {"image_file": "!!!not base64!!!", "image_type": "png"}),
    }
    return canned.get(fault.kind)


# ---------------------------------------------------------------- the "model" and its input validation


def _decode_payload(value: Any, name: str) -> tuple[bytes, str]:
    """Bytes and form ("data_uri" or "base64") of an image field, within the 30 MB limit."""
    if not isinstance(value, str) or not value:
        raise ApiError(400, "INVALID_REQUEST_BODY", f"{name} is required and must be a string")
    prefix = _DATA_URI.match(value)
    form, text = ("data_uri", value[prefix.end() :]) if prefix else ("base64", value)
    # Cheap upper bound first, so a huge body is refused before it is decoded.
    if len(text) * 3 // 4 > MAX_BYTES + 3:
        raise ApiError(400, "IMAGE_FILE_EXCEEDS_MAX_SIZE", f"{name} exceeds {MAX_BYTES} bytes")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "INVALID_IMAGE_FORMAT", f"{name} is not valid base64") from exc
    if len(raw) > MAX_BYTES:
        raise ApiError(400, "IMAGE_FILE_EXCEEDS_MAX_SIZE", f"{name} exceeds {MAX_BYTES} bytes")
    return raw, form


def _open_image(raw: bytes, name: str) -> Image.Image:
    """Decode with Pillow, refusing more than 16 MP before the pixels are loaded."""
    try:
        image = Image.open(io.BytesIO(raw))
        if image.width * image.height > MAX_PIXELS:
            raise ApiError(400, "IMAGE_EXCEEDS_MAX_RESOLUTION", f"{name} exceeds {MAX_PIXELS} pixels")
        image.load()
        if image.format not in ("JPEG", "PNG", "WEBP"):  # Novita's image family takes these only
            raise ApiError(400, "INVALID_IMAGE_FORMAT", f"{name} must be JPEG, PNG or WebP")
    except Image.DecompressionBombError as exc:
        raise ApiError(400, "IMAGE_EXCEEDS_MAX_RESOLUTION", f"{name} exceeds {MAX_PIXELS} pixels") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow's ways of saying "not an image I can read"
        raise ApiError(400, "INVALID_IMAGE_FORMAT", f"{name} is not a readable image") from exc
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def render_result(image: Image.Image, mask: np.ndarray | None, fmt: str, fill: str = "flat") -> bytes:
    """The fake model: paint ``FILL`` (or a 1-px checkerboard) where mask > 127 (no mask: ``central_box``)."""
    mode = "RGBA" if _has_alpha(image) and fmt != "jpeg" else "RGB"
    pixels = np.array(image.convert(mode))
    if mask is None:
        left, top, right, bottom = central_box(image.width, image.height)
        mask = np.zeros((image.height, image.width), np.uint8)
        mask[top:bottom, left:right] = 255
    where = mask > 127
    if fill == "checker":
        ys, xs = np.nonzero(where)
        pixels[ys, xs, :3] = (((xs + ys) % 2) * 255).astype(np.uint8)[:, None]
    else:
        pixels[where, :3] = FILL
    out = io.BytesIO()
    options: dict[str, Any] = {"compress_level": 1} if fmt == "png" else {"quality": 95}
    Image.fromarray(pixels, mode).save(out, FORMATS[fmt], **options)
    return out.getvalue()


def ink_mask(pixels: np.ndarray) -> np.ndarray:
    """Where remove-text's "text" is: every channel within 60 of ``TEXT_INK`` (uint8, 255 there).

    The fake and the tests that check it read the text by this one rule. ``inRange``, not int arrays: on a
    17.5 MP photo those took 8 s of CPU."""
    ink = np.array(TEXT_INK)
    return cv2.inRange(pixels, np.clip(ink - 60, 0, 255), np.clip(ink + 60, 0, 255))


def remove_text(image: Image.Image) -> bytes:
    """The fake remove-text model: ``TEXT_INK`` (and 2 px around it) becomes ``FILL``; all re-encoded."""
    pixels = np.array(image.convert("RGB"))
    text = cv2.dilate(ink_mask(pixels), np.ones((5, 5), np.uint8)) > 0
    pixels[text] = FILL
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=TEXT_QUALITY)
    return out.getvalue()


@dataclass
class _Submission:
    image: Image.Image
    mask: np.ndarray | None
    fmt: str


def _parse_submission(
    rec: RecordedRequest, names: tuple[str, str], fmt: Any, mask_required: bool, forms: set[str]
) -> _Submission:
    """Validate an eraser/cleanup body, decode its images and note the artefacts on ``rec``."""
    if fmt not in FORMATS:
        raise ApiError(400, "INVALID_REQUEST_BODY", f"output format must be one of {sorted(FORMATS)}")
    body = rec.json
    raw, rec.image_form = _decode_payload(body.get(names[0]), names[0])
    if rec.image_form not in forms:
        raise ApiError(400, "INVALID_IMAGE_FORMAT", f"{names[0]} must be sent as one of {sorted(forms)}")
    image = _open_image(raw, names[0])
    rec.extras.update(image_size=image.size, image_bytes=len(raw), output_format=fmt)
    rec.extras.update(image_format=image.format)
    rec.extras.update(mask=None, mask_form=None)
    mask = None
    if body.get(names[1]) or mask_required:
        raw_mask, rec.extras["mask_form"] = _decode_payload(body.get(names[1]), names[1])
        mask_image = _open_image(raw_mask, names[1])
        if mask_image.size != image.size:
            raise ApiError(400, "INVALID_IMAGE_SIZE", f"mask is {mask_image.size}, image is {image.size}")
        mask = np.array(mask_image.convert("L"), dtype=np.uint8)
        rec.extras["mask"] = mask
    return _Submission(image, mask, fmt)


# ---------------------------------------------------------------- the server


class _Listener(ThreadingHTTPServer):
    # Many clients at once: never refuse a burst, never wait for handler threads on shutdown.
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeNovita, role: str) -> None:
        self.fake, self.role = fake, role
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API; every answer carries Content-Length
    # Headers and body go out in two writes; with Nagle on, loopback adds ~40 ms to every answer.
    disable_nagle_algorithm = True
    server: _Listener

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default one-line-per-request stderr log."""

    def _serve(self) -> None:
        fake, role = self.server.fake, self.server.role
        body = self._read_body()
        arrived = time.monotonic()  # the last byte is in: parsing it below is the fake's time
        rec = fake._record(role, self.command, self.path, dict(self.headers.items()), body, arrived)
        # Sleep here, in this request's own thread, so latency never serialises concurrent requests.
        time.sleep(fake.store_latency if role == "store" else fake.latency)
        reply = fake._respond(rec)
        # The stand-in's own work (decoding, painting, encoding a result while a submit waits): the real
        # service does it inside the task's time, so a benchmark can tell it apart from the client's.
        rec.extras["fake_s"] = time.monotonic() - arrived
        if reply is None:
            self.close_connection = True  # dropped: close the socket without a byte of answer
            return
        self._send(reply)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(reply.declared_length or len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.declared_length is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        with contextlib.suppress(ConnectionError):  # the client may have given up (read-timeout tests)
            self.wfile.write(reply.body)


class FakeNovita:
    """The fake Novita API plus its object store. See the module docstring for the scripting API."""

    def __init__(
        self,
        port: int = 0,
        store_port: int = 0,
        valid_keys: Iterable[str] | None = (TEST_KEY,),
        host: str = "127.0.0.1",
        store_host: str = "127.0.0.2",
    ) -> None:
        self.host, self.port, self.store_host, self.store_port = host, port, store_host, store_port
        self.valid_keys: set[str] | None = None if valid_keys is None else set(valid_keys)
        self._first_valid_keys = None if valid_keys is None else frozenset(valid_keys)  # for reset()
        self.latency = 0.0
        self.store_latency = 0.0
        self.task_plan = TaskPlan()
        # The clock of timed plans (TaskPlan.duration): a test may set one that it moves itself.
        self.clock: Callable[[], float] = time.monotonic
        self.fill = "flat"  # or "checker": see the module docstring
        # Whether the real eraser takes bare base64 is unknown: tests can refuse one form to cover both cases.
        self.eraser_image_forms = {"data_uri", "base64"}
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: dict[str, deque[Fault]] = {name: deque() for name in ENDPOINTS}
        self._tasks: dict[str, Task] = {}
        self._results: dict[str, tuple[bytes, str]] = {}
        self._servers: list[_Listener] = []
        self._threads: list[threading.Thread] = []

    # -- lifecycle

    def start(self) -> FakeNovita:
        """Bind both listeners and serve them in daemon threads."""
        api = _Listener((self.host, self.port), self, "api")
        try:
            store = _Listener((self.store_host, self.store_port), self, "store")
        except OSError:
            # No 127.0.0.2 here: a second port on the API's host still keeps the store a different origin.
            self.store_host = self.host
            store = _Listener((self.store_host, self.store_port), self, "store")
        self._servers = [api, store]
        self.port, self.store_port = api.server_address[1], store.server_address[1]
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.02},
                daemon=True,
                name=f"fake-novita-{server.role}",
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and close both sockets."""
        # Shut both down in parallel: each shutdown() waits up to one poll interval.
        stoppers = [threading.Thread(target=server.shutdown) for server in self._servers]
        for thread in stoppers:
            thread.start()
        for thread in stoppers + self._threads:
            thread.join(timeout=5)
        for server in self._servers:
            server.server_close()
        self._servers, self._threads = [], []

    def __enter__(self) -> FakeNovita:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:8765``."""
        return f"http://{self.host}:{self.port}"

    @property
    def store_url(self) -> str:
        """Base URL of the object store, e.g. ``http://127.0.0.2:40123``."""
        return f"http://{self.store_host}:{self.store_port}"

    # -- scripting and inspection

    def fail_next(self, endpoint: str, *faults: Fault) -> None:
        """Queue one-shot faults for the next requests to ``endpoint``, one per request, in order."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS}, not {endpoint!r}")
        for fault in faults:
            if endpoint not in _FAULT_ENDPOINTS.get(fault.kind, set(ENDPOINTS)):
                raise ValueError(f"fault {fault.kind!r} does not apply to {endpoint!r}")
        with self._lock:
            self._faults[endpoint].extend(faults)

    def pending_faults(self, endpoint: str) -> int:
        """How many queued faults ``endpoint`` has not consumed yet."""
        with self._lock:
            return len(self._faults[endpoint])

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, API and store, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        """Recorded requests whose path starts with ``path_prefix`` (``"/results/"`` = the store)."""
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    def sizes_received(self) -> list[tuple[int, int]]:
        """(width, height) of every image submitted to the eraser or cleanup, in order."""
        subs = [r for r in self.requests if r.path in ("/v3/async/image-eraser", "/v3/cleanup")]
        return [tuple(r.extras["image_size"]) for r in subs if "image_size" in r.extras]

    @property
    def keys_seen(self) -> list[str]:
        """Bearer keys of all recorded requests (API and store), in order."""
        found = (_bearer(r.headers.get("authorization", "")) for r in self.requests)
        return [key for key in found if key]

    @property
    def tasks(self) -> dict[str, Task]:
        """A snapshot of the eraser tasks created so far, by id."""
        with self._lock:
            return dict(self._tasks)

    def finish_tasks(self) -> None:
        """Tasks created so far end at their next poll (as the plan says: SUCCEED unless it fails them).

        With ``TaskPlan(never_finish=True)`` a test decides when a task ends, however slow the machine."""
        with self._lock:
            for task in self._tasks.values():
                task.plan = replace(task.plan, never_finish=False, duration=0.0)

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        """Back to a fresh server: no faults, default plan, no latency, no requests, no tasks, first keys."""
        with self._lock:
            self._requests.clear()
            for queue in self._faults.values():
                queue.clear()
            self._tasks.clear()
            self._results.clear()
        self.task_plan, self.latency, self.store_latency = TaskPlan(), 0.0, 0.0
        self.valid_keys = None if self._first_valid_keys is None else set(self._first_valid_keys)
        self.clock = time.monotonic
        self.fill = "flat"
        self.eraser_image_forms = {"data_uri", "base64"}

    # -- request handling (called from handler threads)

    def _record(
        self, role: str, method: str, target: str, headers: dict[str, str], body: bytes, arrived: float
    ) -> RecordedRequest:
        parts = urlsplit(target)
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        rec = RecordedRequest(
            role,
            method,
            parts.path,
            dict(parse_qsl(parts.query)),
            {k.lower(): v for k, v in headers.items()},
            parsed,
            arrived,
        )
        with self._lock:
            self._requests.append(rec)
        return rec

    def _respond(self, rec: RecordedRequest) -> _Reply | None:
        """Route, apply a queued fault, check auth, then answer normally."""
        endpoint = "store" if rec.host == "store" else _ROUTES.get((rec.host, rec.method, rec.path))
        if endpoint is None:
            return _error_reply(404, "API_NOT_FOUND", f"no route for {rec.method} {rec.path}")
        fault = self._take_fault(endpoint)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        elif fault is not None and fault.kind == "hold" and fault.release is not None:
            fault.release.wait(fault.seconds)
        elif fault is not None and fault.kind == "echo_auth":
            quoted = rec.headers.get("authorization", "")
            return _error_reply(fault.code, f"BAD_HEADER {quoted}", f"rejected Authorization: {quoted}")
        elif fault is not None and fault.kind not in ("truncated", "corrupt"):
            return _fault_reply(fault, endpoint)
        reply = self._answer(endpoint, rec)
        if fault is not None and fault.kind == "truncated" and reply.status == 200:
            half = reply.body[: len(reply.body) // 2]
            return replace(
                reply, body=half, declared_length=len(reply.body) if fault.cut_connection else None
            )
        if fault is not None and fault.kind == "corrupt" and reply.status == 200:
            body = np.frombuffer(reply.body, np.uint8).copy()
            body[len(body) // 4 : len(body) * 3 // 4] ^= 0x5A
            return replace(reply, body=body.tobytes())
        return reply

    def _take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            queue = self._faults[endpoint]
            return queue.popleft() if queue else None

    def _answer(self, endpoint: str, rec: RecordedRequest) -> _Reply:
        if endpoint == "store":
            return self._serve_result(rec.path)
        key = _bearer(rec.headers.get("authorization", ""))
        if not key:
            return _error_reply(401, "MISSING_API_KEY", "Authorization: Bearer <key> is required")
        if self.valid_keys is not None and key not in self.valid_keys:
            return _error_reply(403, "INVALID_API_KEY", "the API key is not valid")
        if endpoint != "task" and not isinstance(rec.json, dict):
            return _error_reply(400, "INVALID_REQUEST_BODY", "the body must be a JSON object")
        handlers = {
            "eraser": self._create_task,
            "task": self._task_result,
            "cleanup": self._cleanup,
            "remove-text": self._remove_text,
        }
        try:
            return handlers[endpoint](rec)
        except ApiError as exc:
            return _error_reply(exc.code, exc.reason, exc.message)
        except Exception as exc:  # a bug in the fake: say so loudly rather than look like a dropped socket
            traceback.print_exc()
            return _error_reply(500, "FAKE_SERVER_BUG", repr(exc))

    def _create_task(self, rec: RecordedRequest) -> _Reply:
        body = rec.json
        prompt = body.get("prompt")
        if not body.get("mask") and not (isinstance(prompt, str) and prompt.strip()):
            raise ApiError(400, "INVALID_REQUEST_BODY", "either mask or prompt is required")
        sub = _parse_submission(
            rec, ("image", "mask"), body.get("output_format") or "jpeg", False, self.eraser_image_forms
        )
        rec.extras["prompt"] = prompt
        token, task_id = uuid.uuid4().hex, str(uuid.uuid4())
        if self.task_plan.echo_authorization:
            task_id += "-" + rec.headers.get("authorization", "")
        result = render_result(sub.image, sub.mask, sub.fmt, self.fill)
        url = f"{self.store_url}/results/{token}.{sub.fmt}"
        task = Task(task_id, self.task_plan, self.clock(), url, sub.fmt, result)
        with self._lock:
            self._tasks[task_id] = task
            self._results[f"{token}.{sub.fmt}"] = (result, f"image/{sub.fmt}")
        rec.extras["task_id"] = task_id
        return _json_reply(200, {"task_id": task_id})

    def _task_result(self, rec: RecordedRequest) -> _Reply:
        task_id = rec.query.get("task_id", "")
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                raise ApiError(404, "TASK_NOT_FOUND", f"task {task_id!r} not found")
            task.polls += 1
            poll = task.polls - 1
        plan = task.plan
        status, eta, progress = plan.state(poll, self.clock() - task.created)
        if plan.fixed_eta is not None and status in (QUEUED, PROCESSING):
            eta = plan.fixed_eta
        reason = plan.fail_reason if status == FAILED else ""
        if reason and plan.echo_authorization:
            reason = f"{reason} (request had Authorization: {rec.headers.get('authorization', '')})"
        images = []
        if status == SUCCEED and not plan.no_images:
            images = [
                {
                    "image_url": task.image_url,
                    "image_url_ttl": task.plan.image_url_ttl,
                    "image_type": task.image_type,
                    "nsfw_detection_result": None,
                }
            ]
        info = {
            "task_id": task.task_id,
            "status": status,
            "reason": reason,
            "task_type": "IMAGE_ERASER",
            "eta": str(eta) if plan.numbers_as_strings else eta,
            "progress_percent": str(progress) if plan.numbers_as_strings else progress,
        }
        if plan.numbers_as_strings:
            for image in images:
                image["image_url_ttl"] = str(image["image_url_ttl"])
        return _json_reply(200, {"task": info, "images": images, "videos": [], "audios": [], "extra": {}})

    def _cleanup(self, rec: RecordedRequest) -> _Reply:
        extra = rec.json.get("extra") or {}
        fmt = (extra.get("response_image_type") if isinstance(extra, dict) else None) or "png"
        sub = _parse_submission(rec, ("image_file", "mask_file"), fmt, True, {"data_uri", "base64"})
        encoded = base64.b64encode(render_result(sub.image, sub.mask, sub.fmt, self.fill)).decode("ascii")
        return _json_reply(200, {"image_file": encoded, "image_type": sub.fmt})

    def _remove_text(self, rec: RecordedRequest) -> _Reply:
        raw, rec.image_form = _decode_payload(rec.json.get("image_file"), "image_file")
        image = _open_image(raw, "image_file")
        extra = rec.json.get("extra") or {}
        asked = extra.get("response_image_type") if isinstance(extra, dict) else None
        rec.extras.update(image_size=image.size, image_bytes=len(raw), image_format=image.format)
        rec.extras.update(output_format=asked)
        encoded = base64.b64encode(remove_text(image)).decode("ascii")
        return _json_reply(200, {"image_file": encoded, "image_type": "jpeg"})

    def _serve_result(self, path: str) -> _Reply:
        with self._lock:
            found = (
                self._results.get(path.removeprefix("/results/")) if path.startswith("/results/") else None
            )
        if found is None:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        return _Reply(200, found[0], found[1])


def _bearer(header: str) -> str:
    """The key of an ``Authorization: Bearer <key>`` header, or "" when there is none."""
    scheme, _, key = header.strip().partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


@contextlib.contextmanager
def running_fake_novita(**kwargs: Any) -> Iterator[FakeNovita]:
    """Start a ``FakeNovita(**kwargs)`` for the duration of a ``with`` block."""
    with FakeNovita(**kwargs) as fake:
        yield fake


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Serve by hand until Ctrl-C (or SIGTERM)."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_novita", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765, help="API port (0 = random)")
    parser.add_argument("--store-port", type=int, default=0, help="object store port (default random)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds every API answer waits")
    parser.add_argument("--any-key", action="store_true", help="accept any non-empty API key")
    parser.add_argument("--queued-polls", type=int, default=0)
    parser.add_argument("--processing-polls", type=int, default=0)
    parser.add_argument("--duration", type=float, default=None, help="seconds a task takes (time-based plan)")
    parser.add_argument("--fail-reason", default=None, help="make every task end FAILED with this reason")
    parser.add_argument("--fill", choices=("flat", "checker"), default="flat", help="how erased pixels look")
    args = parser.parse_args(argv)
    fake = FakeNovita(
        port=args.port, store_port=args.store_port, valid_keys=None if args.any_key else (TEST_KEY,)
    )
    fake.latency = args.latency
    fake.fill = args.fill
    fake.task_plan = TaskPlan(
        queued_polls=args.queued_polls,
        processing_polls=args.processing_polls,
        duration=args.duration,
        fail_reason=args.fail_reason,
    )
    # SIGTERM (from a test harness) exits through the same clean path as Ctrl-C; SIGINT is set explicitly
    # because a shell starts background jobs with it ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    with fake:
        print(f"FAKE_NOVITA_URL={fake.url}", flush=True)
        print(f"FAKE_NOVITA_STORE_URL={fake.store_url}", flush=True)
        print(f"FAKE_NOVITA_KEY={'<any>' if args.any_key else TEST_KEY}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
