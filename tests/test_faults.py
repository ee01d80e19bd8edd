"""Fault matrix: every way Novita can misbehave ends in success after bounded retries, or in the right typed
error within the deadline; the CLI exits 1 with one clear line. The outcome table goes to
``test-output/fault-matrix.md`` for a person to read."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from novita_ui import errors
from novita_ui.cli import main
from novita_ui.config import Settings
from novita_ui.novita.client import CallOptions, ImageResult, NovitaClient, TaskProgress
from novita_ui.service import RemoveRequest, RemoveResult, Service
from tests.clock import FakeClock
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
    # Timeouts the case waits out in full (four attempts, then the CLI's four): short where that is the point.
    read_timeout: float = 1.0
    connect_timeout: float = 0.5
    poll_deadline: float = 1.5


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
    Case(
        "connect timeout",
        "cleanup",
        lambda fake: None,
        errors.APITimeoutError,
        base_url="black_hole",
        connect_timeout=0.2,
    ),
    Case(
        "read timeout on submit",
        "cleanup",
        _faults("cleanup", Fault.delay(1.0)),
        errors.APITimeoutError,
        read_timeout=0.3,
    ),
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
    Case(
        "task never finishes",
        "eraser",
        _plan(TaskPlan(never_finish=True)),
        errors.TaskTimeoutError,
        poll_deadline=0.5,
    ),
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
        _url(case, fake, black_hole),
        read_timeout=case.read_timeout,
        connect_timeout=case.connect_timeout,
        poll_deadline=case.poll_deadline,
        max_attempts=4,
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


# ---- the real service's unknowns (issue 12) --------------------------------------------------------------

ERASER = "/v3/async/image-eraser"
POLLS = "/v3/async/task-result"
MASK_PNG = encode(MASK, "PNG")


class VirtualTime(FakeClock):
    """A clock that moves only when the client sleeps: pacing is checked exactly, without waiting for it."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0


def _real_settings(fake: FakeNovita, **overrides: object) -> Settings:
    """The shipped defaults (pacing, deadline, back-off), pointed at the fake."""
    return Settings.load(env={}, api_key=TEST_KEY, base_url=fake.url, **overrides)


async def _erase(
    settings: Settings, time_: VirtualTime | None = None, **kwargs: Any
) -> tuple[ImageResult | Exception, list[TaskProgress]]:
    """One eraser call on a new client; returns its result (or error) and every progress event."""
    time_ = time_ or VirtualTime()
    async with NovitaClient(settings, sleep=time_.sleep, clock=time_, rand=lambda: 0.5) as client:
        return await _erase_with(client, **kwargs)


async def _erase_with(
    client: NovitaClient, **kwargs: Any
) -> tuple[ImageResult | Exception, list[TaskProgress]]:
    """One eraser call on ``client``."""
    seen: list[TaskProgress] = []
    try:
        told = CallOptions(on_progress=seen.append)
        return await client.erase(IMAGE, mask=MASK_PNG, options=told, **kwargs), seen
    except errors.NovitaUIError as error:
        return error, seen


async def test_an_eraser_that_takes_only_bare_base64_gets_it_once_and_then_always(
    fake: FakeNovita, caplog: pytest.LogCaptureFixture
) -> None:
    fake.eraser_image_forms = {"base64"}
    caplog.set_level(logging.INFO, logger="novita_ui")
    time_ = VirtualTime()
    # One client, as the web app's service and the CLI hold one for their whole process.
    settings = fast_settings(fake.url)
    async with NovitaClient(settings, sleep=time_.sleep, clock=time_, rand=lambda: 0.5) as client:
        first, _ = await _erase_with(client)
        second, _ = await _erase_with(client)
    assert isinstance(first, ImageResult) and isinstance(second, ImageResult)
    assert [r.image_form for r in fake.requests_to(ERASER)] == ["data_uri", "base64", "base64"]
    assert len(fake.tasks) == 2  # one task per removal: the refused submit created none
    assert caplog.text.count("sending base64 from now on") == 1
    # What one client learned is its own: a new client starts from the data URI again.
    third, _ = await _erase(fast_settings(fake.url))
    assert isinstance(third, ImageResult)
    assert [r.image_form for r in fake.requests_to(ERASER)][3:] == ["data_uri", "base64"]


async def test_a_forced_encoding_is_never_switched(fake: FakeNovita) -> None:
    fake.eraser_image_forms = {"base64"}
    outcome, _ = await _erase(fast_settings(fake.url, eraser_image_encoding="data_uri"))
    assert isinstance(outcome, errors.BadRequestError) and "INVALID_IMAGE_FORMAT" in str(outcome)
    assert len(fake.requests_to(ERASER)) == 1


async def test_a_stuck_eta_is_polled_at_most_once_a_second(fake: FakeNovita) -> None:
    fake.task_plan = TaskPlan(processing_polls=30, fixed_eta=1)
    time_ = VirtualTime()
    result, _ = await _erase(_real_settings(fake), time_)
    assert isinstance(result, ImageResult)
    polls = len(fake.requests_to(POLLS))
    assert polls == 31
    assert polls / time_.now <= 1.0, f"{polls} polls in {time_.now:.1f} s"
    assert time_.sleeps[0] <= 0.25  # the first poll still goes early, for fast tasks


async def test_an_outage_of_task_result_keeps_polling_the_paid_task(fake: FakeNovita) -> None:
    outage = [Fault.status(500, reason="GET_RESULT_FAILED"), Fault.html_502(), Fault.drop_connection()] * 2
    fake.fail_next("task", *outage)
    result, seen = await _erase(_real_settings(fake))
    assert isinstance(result, ImageResult) and result.size == (96, 64)
    assert len(fake.tasks) == 1 and len(fake.requests_to(POLLS)) == 7
    task_id = result.task_id or ""
    notes = [p.note for p in seen if p.status == "retrying"]
    assert len(notes) == 6 and all(note and task_id in note for note in notes)
    assert "Novita is busy (500)" in (notes[0] or "")


async def test_an_outage_past_the_deadline_is_a_timeout_naming_the_task(fake: FakeNovita) -> None:
    fake.fail_next("task", *[Fault.status(503)] * 200)
    time_ = VirtualTime()
    outcome, _ = await _erase(_real_settings(fake, poll_deadline=60.0), time_)
    assert isinstance(outcome, errors.TaskTimeoutError)
    task_id = next(iter(fake.tasks))
    assert task_id in str(outcome) and "503" in str(outcome) and "dashboard" in str(outcome)
    assert 60.0 <= time_.now <= 70.0


async def test_every_message_after_the_task_exists_names_it(fake: FakeNovita) -> None:
    fake.fail_next("task", Fault.status(403, reason="INVALID_API_KEY"))  # the key was revoked meanwhile
    outcome, _ = await _erase(fast_settings(fake.url))
    assert isinstance(outcome, errors.AuthenticationError)
    assert next(iter(fake.tasks)) in str(outcome)


async def test_a_read_timeout_on_submit_says_a_task_may_exist_and_where_to_look(fake: FakeNovita) -> None:
    fake.fail_next("eraser", Fault.delay(1.5))
    outcome, _ = await _erase(fast_settings(fake.url, read_timeout=0.3))
    assert isinstance(outcome, errors.APITimeoutError)
    assert "paid task" in str(outcome) and "https://novita.ai/" in str(outcome)
    assert len(fake.requests_to(ERASER)) == 1  # never resent: it may have created a task


async def test_numbers_as_strings_are_read(fake: FakeNovita) -> None:
    fake.task_plan = TaskPlan(processing_polls=2, numbers_as_strings=True)
    result, seen = await _erase(fast_settings(fake.url))
    assert isinstance(result, ImageResult)
    assert [p.percent for p in seen if p.status == "processing"] == [33.0, 66.0]
    assert [p.eta for p in seen if p.status == "processing"] == [2.0, 1.0]


async def test_success_without_images_is_a_clear_message_naming_the_task(fake: FakeNovita) -> None:
    fake.task_plan = TaskPlan(no_images=True)
    outcome, _ = await _erase(fast_settings(fake.url))
    assert isinstance(outcome, errors.ResultDownloadError)
    assert next(iter(fake.tasks)) in str(outcome) and "no image" in str(outcome)


ECHOES = {
    "reason of a 400": lambda fake: fake.fail_next("eraser", Fault.echo_auth(400)),
    "reason of every 503": lambda fake: fake.fail_next("eraser", *[Fault.echo_auth(503)] * 4),
    "failed task's reason": _plan(TaskPlan(fail_reason="moderation", echo_authorization=True)),
    "task id": _plan(TaskPlan(echo_authorization=True)),
    "task id of a failed task": _plan(TaskPlan(fail_reason="x", echo_authorization=True)),
}


@pytest.mark.parametrize("echo", ECHOES, ids=list(ECHOES))
async def test_an_echoed_key_reaches_no_message_log_or_progress(
    fake: FakeNovita, echo: str, caplog: pytest.LogCaptureFixture
) -> None:
    ECHOES[echo](fake)
    caplog.set_level(logging.DEBUG)
    outcome, seen = await _erase(fast_settings(fake.url))
    shown = [str(outcome), caplog.text, *(repr(p) for p in seen)]
    if isinstance(outcome, ImageResult):
        shown.append(str(outcome.task_id))
    if isinstance(outcome, errors.TaskError):
        shown.append(outcome.task_id)
    assert not any("test_key" in text for text in shown)  # 8 characters of the key are enough to hide
    assert any("***" in text for text in shown)


async def test_retries_are_told_through_the_progress_callback(fake: FakeNovita) -> None:
    fake.fail_next("eraser", Fault.status(503))
    result, seen = await _erase(_real_settings(fake))
    assert isinstance(result, ImageResult)
    assert seen[0].status == "retrying" and seen[0].task_id is None
    assert re.fullmatch(r"Novita is busy \(503\); trying again in 0\.4 s, attempt 2 of 4", seen[0].note or "")


def test_retries_are_shown_by_the_cli_and_the_web_app(
    fake: FakeNovita, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from novita_ui.ui.texts import progress_text

    fake.fail_next("cleanup", Fault.status(503))
    monkeypatch.setattr("novita_ui.config.Settings.load", _fast_load(fast_settings(fake.url)))
    image, mask, out = tmp_path / "in.jpg", tmp_path / "mask.png", tmp_path / "out.png"
    image.write_bytes(IMAGE)
    mask.write_bytes(MASK_PNG)
    assert main(["cleanup", str(image), "--mask", str(mask), "--output", str(out)]) == 0
    busy = r"^Novita is busy \(503\); trying again in .+, attempt 2 of 4$"
    assert re.search(busy, capsys.readouterr().err, re.M)
    note = "Novita is busy (503); trying again in 2 s, attempt 2 of 4"
    assert progress_text(TaskProgress(None, "retrying", note=note)) == note


# ---- what a paid request leaves behind (issue 13, findings 4 and 5) ---------------------------------------


def _app(fake: FakeNovita, tmp_path: Path, **options: Any) -> Any:
    from novita_ui.ui import App, Options

    return App(fast_settings(fake.url), Options(scratch_dir=tmp_path / "scratch", **options))


async def test_the_spend_cap_counts_every_post_attempt(fake: FakeNovita, tmp_path: Path) -> None:
    fake.fail_next("cleanup", *[Fault.status(503)] * 12)
    from novita_ui.ui import App, Options

    app = App(fast_settings(fake.url, max_requests_per_hour=3), Options(scratch_dir=tmp_path / "scratch"))
    request = RemoveRequest(engine="cleanup", image=IMAGE, mask=MASK)
    outcomes = []
    for _ in range(3):
        with pytest.raises(errors.NovitaUIError) as caught:
            await app.remove(request)
        outcomes.append(caught.value)
    await app.aclose()
    assert len(fake.requests_to("/v3/cleanup")) == 3  # 3 attempts on the server's key, not 3 removals
    assert isinstance(outcomes[0], errors.BudgetExhaustedError)  # the 4th attempt was refused
    assert all("3 requests per hour" in str(error) for error in outcomes[1:])


@pytest.mark.parametrize("plan", [TaskPlan(fail_reason="moderation"), TaskPlan(never_finish=True)])
async def test_a_paid_task_is_logged_when_created_and_kept_in_the_sidecar_when_it_ends_badly(
    fake: FakeNovita, tmp_path: Path, caplog: pytest.LogCaptureFixture, plan: TaskPlan
) -> None:
    fake.task_plan = plan
    caplog.set_level(logging.INFO, logger="novita_ui")
    app = _app(fake, tmp_path, output_dir=tmp_path / "out")
    app.service.client.settings = fast_settings(fake.url, poll_deadline=0.3)
    request = RemoveRequest(engine="eraser", image=IMAGE, mask=MASK)
    with pytest.raises(errors.TaskError):
        await app.remove(request, session="abcdef0123456789", source_name="holiday.jpg")
    await app.aclose()
    task_id = next(iter(fake.tasks))
    assert f"novita task {task_id} created (engine eraser, session abcdef01)" in caplog.text
    assert TEST_KEY not in caplog.text and "abcdef0123456789" not in caplog.text
    sidecars = list((tmp_path / "out").glob("*.json"))
    assert [p.name for p in sidecars] == ["holiday-cleaned-unfinished.json"]
    record = json.loads(sidecars[0].read_text())
    assert record["task_id"] == task_id and record["status"] == "failed" and task_id in record["error"]
    assert TEST_KEY not in sidecars[0].read_text()
