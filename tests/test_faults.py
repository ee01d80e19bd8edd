"""Fault matrix: every way Novita can misbehave ends in success after bounded retries, or in the right typed
error within the deadline; the CLI exits 1 with one clear line. The outcome table goes to
``test-output/fault-matrix.md`` for a person to read."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from novita_ui import errors
from novita_ui.cli import main
from novita_ui.config import Settings
from novita_ui.service import RemoveRequest, RemoveResult, Service
from tests.conftest import fast_settings
from tests.fake_novita import TEST_KEY, FakeNovita, Fault, TaskPlan, http_date
from tests.images import box_mask, encode, photo_like

OUTPUT = Path(__file__).resolve().parents[1] / "test-output" / "fault-matrix.md"
IMAGE = encode(photo_like(96, 64))
MASK = box_mask(96, 64, (30, 20, 60, 40))
Setup = Callable[[FakeNovita], None]


@dataclass(frozen=True)
class Case:
    name: str
    engine: str  # "eraser" or "cleanup"
    setup: Setup
    expected: type[Exception] | None  # None: success after retries
    base_url: str | None = None  # another server than the fake (refused, black hole)


def _faults(endpoint: str, *faults: Fault) -> Setup:
    return lambda fake: fake.fail_next(endpoint, *faults)


def _plan(plan: TaskPlan) -> Setup:
    def setup(fake: FakeNovita) -> None:
        fake.task_plan = plan

    return setup


def _closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture(scope="module")
def black_hole() -> Iterator[str]:
    """A loopback port whose accept queue is full: connecting hangs until the connect timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(4):  # fill the backlog; later SYNs are dropped, so connect() waits
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(server.getsockname())
        fillers.append(filler)
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    for filler in fillers:
        filler.close()
    server.close()


CASES = [
    Case(
        "429 once, Retry-After seconds",
        "cleanup",
        _faults("cleanup", Fault.status(429, retry_after="0")),
        None,
    ),
    Case(
        "429 once, Retry-After HTTP date",
        "eraser",
        _faults("eraser", Fault.status(429, retry_after=http_date(0))),
        None,
    ),
    Case("429 once, no Retry-After", "cleanup", _faults("cleanup", Fault.status(429)), None),
    Case(
        "429 every time",
        "cleanup",
        _faults("cleanup", *[Fault.status(429, retry_after="0")] * 4),
        errors.RateLimitError,
    ),
    *(
        Case(f"{code} once", "eraser", _faults("eraser", Fault.status(code)), None)
        for code in (500, 502, 503, 504)
    ),
    *(
        Case(
            f"{code} every time", "cleanup", _faults("cleanup", *[Fault.status(code)] * 4), errors.ServerError
        )
        for code in (500, 502, 503, 504)
    ),
    Case("non-JSON 502 page once (poll)", "eraser", _faults("task", Fault.html_502()), None),
    Case(
        "non-JSON 502 page every time",
        "cleanup",
        _faults("cleanup", *[Fault.html_502()] * 4),
        errors.ServerError,
    ),
    Case("connection refused", "cleanup", lambda fake: None, errors.APIConnectionError, base_url="refused"),
    Case("connect timeout", "cleanup", lambda fake: None, errors.APITimeoutError, base_url="black_hole"),
    Case("read timeout on submit", "cleanup", _faults("cleanup", Fault.delay(2.0)), errors.APITimeoutError),
    Case("read timeout on a poll, once", "eraser", _faults("task", Fault.delay(2.0)), None),
    Case("connection dropped on a poll, once", "eraser", _faults("task", Fault.drop_connection()), None),
    Case(
        "connection dropped on submit",
        "eraser",
        _faults("eraser", Fault.drop_connection()),
        errors.APIConnectionError,
    ),
    Case(
        "malformed JSON on submit",
        "eraser",
        _faults("eraser", Fault.malformed_json()),
        errors.MalformedResponseError,
    ),
    Case(
        "task FAILED",
        "eraser",
        _plan(TaskPlan(processing_polls=1, fail_reason="IMAGE_PROCESS_FAILED")),
        errors.TaskFailedError,
    ),
    Case("task never finishes", "eraser", _plan(TaskPlan(never_finish=True)), errors.TaskTimeoutError),
    Case(
        "TASK_NOT_FOUND",
        "eraser",
        _faults("task", Fault.status(404, reason="TASK_NOT_FOUND")),
        errors.TaskFailedError,
    ),
    Case("result URL expired (403)", "eraser", _faults("store", Fault.expired()), errors.ResultDownloadError),
    Case("result URL gone (404)", "eraser", _faults("store", Fault.not_found()), errors.ResultDownloadError),
    Case("truncated result image, once", "eraser", _faults("store", Fault.truncated()), None),
    Case(
        "truncated result image, every time",
        "eraser",
        _faults("store", *[Fault.truncated()] * 4),
        errors.ResultDownloadError,
    ),
    Case(
        "invalid base64 in cleanup's answer",
        "cleanup",
        _faults("cleanup", Fault.invalid_base64()),
        errors.MalformedResponseError,
    ),
    Case(
        "wrong key (403)",
        "cleanup",
        _faults("cleanup", Fault.status(403, reason="INVALID_API_KEY")),
        errors.AuthenticationError,
    ),
    Case(
        "missing key (401)",
        "eraser",
        _faults("eraser", Fault.status(401, reason="MISSING_API_KEY")),
        errors.AuthenticationError,
    ),
    Case(
        "balance too low (400)",
        "eraser",
        _faults("eraser", Fault.status(400, reason="BILLING_BALANCE_NOT_ENOUGH")),
        errors.BadRequestError,
    ),
]

ROWS: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _write_table() -> Iterator[None]:
    yield
    OUTPUT.parent.mkdir(exist_ok=True)
    header = "| fault | engine | outcome | message | seconds | CLI exit |\n|---|---|---|---|---|---|\n"
    OUTPUT.write_text(header + "\n".join(ROWS) + "\n")


def _url(case: Case, fake: FakeNovita, black_hole: str) -> str:
    return {"refused": _closed_port(), "black_hole": black_hole}.get(case.base_url or "", fake.url)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(
    case: Case,
    fake: FakeNovita,
    black_hole: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = fast_settings(
        _url(case, fake, black_hole), read_timeout=1.0, connect_timeout=0.5, poll_deadline=1.5, max_attempts=4
    )
    case.setup(fake)
    started = time.monotonic()
    outcome, result = asyncio.run(_remove(settings, case))
    seconds = time.monotonic() - started
    if case.expected is None:
        assert outcome is None, f"{case.name}: expected success, got {outcome!r}"
        assert result is not None and result.size == (96, 64)
    else:
        assert type(outcome) is case.expected, f"{case.name}: got {outcome!r}"
        assert TEST_KEY not in str(outcome)
    assert seconds < 10, "every fault ends within its deadline"

    # The CLI: same scenario, as a user runs it.
    cli_code = "-"
    if case.expected is not None:
        fake.reset()
        case.setup(fake)
        monkeypatch.setenv("NOVITA_API_KEY", TEST_KEY)
        monkeypatch.setenv("NOVITA_BASE_URL", settings.base_url)
        monkeypatch.setattr("novita_ui.config.Settings.load", _fast_load(settings))
        image, mask, out = tmp_path / "in.jpg", tmp_path / "mask.png", tmp_path / "out.png"
        image.write_bytes(IMAGE)
        mask.write_bytes(encode(MASK, "PNG"))
        command = "erase" if case.engine == "eraser" else "cleanup"
        code = main([command, str(image), "--mask", str(mask), "--output", str(out)])
        err = capsys.readouterr().err
        error_lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 1 and len(error_lines) == 1 and "Traceback" not in err and TEST_KEY not in err
        assert not out.exists()
        cli_code = str(code)
    message = "" if outcome is None else str(outcome).replace("|", "/")
    label = "success after retry" if outcome is None else type(outcome).__name__
    ROWS.append(f"| {case.name} | {case.engine} | {label} | {message} | {seconds:.2f} | {cli_code} |")


async def _remove(settings: Settings, case: Case) -> tuple[Exception | None, RemoveResult | None]:
    service = Service(settings)
    request = RemoveRequest(engine=case.engine, image=IMAGE, mask=MASK, output_format="png")  # type: ignore[arg-type]  # engines come from the table
    try:
        return None, await service.remove(request)
    except errors.NovitaUIError as error:
        return error, None
    finally:
        await service.aclose()


def _fast_load(settings: object) -> Callable[..., object]:
    """Settings.load for the CLI: the same short timeouts as the service run (the env gives key and URL)."""
    return lambda *args, **kwargs: settings
