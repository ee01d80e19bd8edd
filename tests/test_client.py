"""The Novita client against the real fake server (and MockTransport where a socket cannot misbehave)."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import httpx
import pytest

from novita_ui import errors
from novita_ui.config import Settings
from novita_ui.novita.client import CallOptions, NovitaClient, TaskProgress, retry_delay
from tests.clock import FakeClock
from tests.conftest import fast_settings
from tests.fake_novita import FILL, TEST_KEY, FakeNovita, Fault, TaskPlan, http_date
from tests.images import box_mask, decode, encode, photo_like

W, H = 64, 48
IMAGE = encode(photo_like(W, H))
MASK = encode(box_mask(W, H, (10, 10, 30, 30)), "PNG")


class SleepRecorder:
    """Records requested waits and skips them: tests never wait for real backoff."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


def make_client(settings: Settings, sleep: SleepRecorder | None = None) -> NovitaClient:
    return NovitaClient(settings, sleep=sleep or SleepRecorder(), rand=lambda: 0.5)


# ---- retry delay: a table, as the SDKs test it ---------------------------------------------------------

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("attempt", "retry_after", "rand", "expected"),
    [
        (1, "2", 0.0, 2.0),  # seconds
        (1, "0.5", 0.9, 0.5),
        (3, "120", 0.0, 30.0),  # capped
        (1, "-5", 0.0, 0.0),  # never negative
        (1, None, 0.0, 0.25),  # backoff: base 0.5 * 2^0 * (0.5 + 0.5 * rand)
        (1, None, 1.0, 0.5),
        (3, None, 1.0, 2.0),
        (10, None, 1.0, 30.0),  # backoff is capped too
        (2, "soon", 1.0, 1.0),  # unparseable header: backoff
    ],
)
def test_retry_delay_table(attempt: int, retry_after: str | None, rand: float, expected: float) -> None:
    assert retry_delay(attempt, retry_after, base=0.5, cap=30.0, rand=rand, now=NOW) == pytest.approx(
        expected
    )


def test_retry_delay_reads_http_dates() -> None:
    from email.utils import formatdate

    assert retry_delay(1, formatdate(NOW + 7, usegmt=True), base=0.5, cap=30, rand=0, now=NOW) == 7.0
    assert retry_delay(1, formatdate(NOW - 60, usegmt=True), base=0.5, cap=30, rand=0, now=NOW) == 0.0
    assert retry_delay(1, formatdate(NOW + 3600, usegmt=True), base=0.5, cap=30, rand=0, now=NOW) == 30.0


# ---- the happy paths ----------------------------------------------------------------------------------


async def test_erase_sends_data_uris_polls_and_downloads_without_the_key(fake: FakeNovita) -> None:
    fake.task_plan = TaskPlan(queued_polls=1, processing_polls=2)
    seen: list[TaskProgress] = []
    async with make_client(fast_settings(fake.url)) as client:
        told = CallOptions(on_progress=seen.append)
        result = await client.erase(IMAGE, mask=MASK, output_format="png", options=told)
    submit = fake.requests_to("/v3/async/image-eraser")[0]
    assert submit.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert submit.json["image"] == "data:image/jpeg;base64," + base64.b64encode(IMAGE).decode()
    assert submit.json["mask"].startswith("data:image/png;base64,")
    assert [p.status for p in seen] == ["created", "queued", "processing", "processing", "succeeded"]
    assert seen[2].percent is not None and 0 < seen[2].percent < 100
    assert result.format == "PNG" and result.size == (W, H) and result.task_id == submit.extras["task_id"]
    assert tuple(decode(result.data)[1][20, 20]) == FILL
    store = fake.requests_to("/results/")
    assert store and all("authorization" not in r.headers for r in store)
    assert all(TEST_KEY not in str(r.headers) for r in store)


async def test_erase_can_send_bare_base64(fake: FakeNovita) -> None:
    async with make_client(fast_settings(fake.url, eraser_image_encoding="base64")) as client:
        await client.erase(IMAGE, prompt="dog")
    submit = fake.requests_to("/v3/async/image-eraser")[0]
    assert submit.image_form == "base64" and submit.json["prompt"] == "dog" and "mask" not in submit.json


async def test_unknown_statuses_count_as_running(fake: FakeNovita) -> None:
    fake.task_plan = TaskPlan(unknown_status_polls=3)
    seen: list[TaskProgress] = []
    async with make_client(fast_settings(fake.url)) as client:
        await client.erase(IMAGE, mask=MASK, options=CallOptions(on_progress=seen.append))
    assert [p.status for p in seen] == ["created"] + ["unknown"] * 3 + ["succeeded"]


async def test_cleanup_sends_bare_base64_and_extra(fake: FakeNovita) -> None:
    async with make_client(fast_settings(fake.url)) as client:
        result = await client.cleanup(IMAGE, MASK, output_format="webp", enterprise_plan=True)
    body = fake.requests_to("/v3/cleanup")[0].json
    assert body["image_file"] == base64.b64encode(IMAGE).decode()
    assert body["extra"] == {"response_image_type": "webp", "enterprise_plan": {"enabled": True}}
    assert result.format == "WEBP" and result.size == (W, H)


async def test_per_call_key_overrides_the_server_key(fake: FakeNovita) -> None:
    fake.valid_keys = {TEST_KEY, "sk_user_2"}
    async with make_client(fast_settings(fake.url)) as client:
        await client.cleanup(IMAGE, MASK, options=CallOptions(api_key="sk_user_2"))
    assert fake.keys_seen == ["sk_user_2"]


# ---- input errors: nothing is sent ---------------------------------------------------------------------


async def test_mask_or_prompt_is_required_before_any_request(fake: FakeNovita) -> None:
    async with make_client(fast_settings(fake.url)) as client:
        # The shared rule's sentence (normalise.mask_or_prompt_problem), as the service and batch say it.
        with pytest.raises(errors.InputError, match=r"\(white = remove\), or describe it in the prompt"):
            await client.erase(IMAGE, prompt="   ")
    assert fake.requests == []


async def test_missing_key_is_an_input_error_naming_the_fix(fake: FakeNovita) -> None:
    async with make_client(fast_settings(fake.url, api_key=None)) as client:
        with pytest.raises(errors.MissingAPIKeyError, match="NOVITA_API_KEY"):
            await client.cleanup(IMAGE, MASK)
    assert fake.requests == []


# ---- statuses -----------------------------------------------------------------------------------------


async def test_a_wrong_key_is_an_authentication_error_without_the_key(fake: FakeNovita) -> None:
    async with make_client(fast_settings(fake.url, api_key="sk_wrong")) as client:
        with pytest.raises(errors.AuthenticationError, match="INVALID_API_KEY") as caught:
            await client.cleanup(IMAGE, MASK)
    assert "sk_wrong" not in str(caught.value) and "sk_wrong" not in repr(caught.value)
    assert len(fake.requests) == 1  # never retried


async def test_401_is_an_authentication_error_too(fake: FakeNovita) -> None:
    fake.fail_next("eraser", Fault.status(401, reason="MISSING_API_KEY"))
    async with make_client(fast_settings(fake.url)) as client:
        with pytest.raises(errors.AuthenticationError, match="401"):
            await client.erase(IMAGE, mask=MASK)
    assert len(fake.requests) == 1


async def test_billing_error_says_to_top_up(fake: FakeNovita) -> None:
    fake.fail_next("eraser", Fault.status(400, reason="BILLING_BALANCE_NOT_ENOUGH"))
    async with make_client(fast_settings(fake.url)) as client:
        with pytest.raises(errors.BadRequestError, match="Top up"):
            await client.erase(IMAGE, mask=MASK)


async def test_bad_request_carries_novitas_reason_and_message(fake: FakeNovita) -> None:
    fake.fail_next("eraser", Fault.status(400, reason="ILLEGAL_IMAGE_CONTENT"))
    async with make_client(fast_settings(fake.url)) as client:
        with pytest.raises(errors.BadRequestError, match="400 ILLEGAL_IMAGE_CONTENT") as caught:
            await client.erase(IMAGE, mask=MASK)
    assert caught.value.reason == "ILLEGAL_IMAGE_CONTENT"


async def test_an_echoed_key_is_redacted(fake: FakeNovita) -> None:
    body = {"code": 400, "reason": "INVALID_REQUEST_BODY", "message": f"bad key {TEST_KEY} here"}
    fake.fail_next("cleanup", Fault.status(400, body=body))
    async with make_client(fast_settings(fake.url)) as client:
        with pytest.raises(errors.BadRequestError) as caught:
            await client.cleanup(IMAGE, MASK)
    assert TEST_KEY not in str(caught.value) and "***" in str(caught.value)


@pytest.mark.parametrize(
    ("retry_after", "expected_wait"),
    [("1", 1.0), (None, None)],
)
async def test_429_is_retried_honouring_retry_after(
    fake: FakeNovita, retry_after: str | None, expected_wait: float | None
) -> None:
    fake.fail_next("eraser", Fault.status(429, retry_after=retry_after))
    sleep = SleepRecorder()
    settings = fast_settings(fake.url, max_retry_delay=30.0, backoff_base=0.5)
    async with make_client(settings, sleep) as client:
        result = await client.erase(IMAGE, mask=MASK)
    assert result.size == (W, H)
    assert len(fake.requests_to("/v3/async/image-eraser")) == 2
    first_wait = sleep.delays[0]
    assert first_wait == (expected_wait if expected_wait is not None else pytest.approx(0.375))


async def test_429_with_an_http_date_is_honoured(fake: FakeNovita) -> None:
    fake.fail_next("cleanup", Fault.status(429, retry_after=http_date(5)))
    sleep = SleepRecorder()
    async with make_client(fast_settings(fake.url, max_retry_delay=30.0), sleep) as client:
        await client.cleanup(IMAGE, MASK)
    assert 3.0 <= sleep.delays[0] <= 5.0


async def test_429_after_the_retry_budget_is_a_rate_limit_error(fake: FakeNovita) -> None:
    fake.fail_next("cleanup", *[Fault.status(429, retry_after="0")] * 4)
    async with make_client(fast_settings(fake.url, max_attempts=4)) as client:
        with pytest.raises(errors.RateLimitError, match="Wait a minute"):
            await client.cleanup(IMAGE, MASK)
    assert len(fake.requests) == 4


@pytest.mark.parametrize("code", [500, 502, 503, 504])
async def test_5xx_is_retried_then_succeeds(fake: FakeNovita, code: int) -> None:
    fake.fail_next("eraser", Fault.status(code))
    fake.fail_next("task", Fault.status(code))
    async with make_client(fast_settings(fake.url)) as client:
        result = await client.erase(IMAGE, mask=MASK)
    assert result.size == (W, H)
    assert len(fake.requests_to("/v3/async/image-eraser")) == 2


@pytest.mark.parametrize("fault", [Fault.status(503), Fault.html_502()])
async def test_persistent_5xx_is_a_server_error(fake: FakeNovita, fault: Fault) -> None:
    fake.fail_next("cleanup", *[fault] * 3)
    async with make_client(fast_settings(fake.url, max_attempts=3)) as client:
        with pytest.raises(errors.ServerError, match="server problem"):
            await client.cleanup(IMAGE, MASK)


async def test_malformed_json_is_reported(fake: FakeNovita) -> None:
    fake.fail_next("eraser", Fault.malformed_json())
    async with make_client(fast_settings(fake.url)) as client:
        with pytest.raises(errors.MalformedResponseError):
            await client.erase(IMAGE, mask=MASK)


async def test_a_dropped_submit_is_not_retried_but_a_dropped_poll_is(fake: FakeNovita) -> None:
    fake.fail_next("eraser", Fault.drop_connection())
    async with make_client(fast_settings(fake.url)) as client:
        with pytest.raises(errors.APIConnectionError):
            await client.erase(IMAGE, mask=MASK)
        assert len(fake.requests_to("/v3/async/image-eraser")) == 1  # may have created a paid task
        fake.fail_next("task", Fault.drop_connection())
        result = await client.erase(IMAGE, mask=MASK)
    assert result.size == (W, H)


async def test_read_timeout_on_submit_is_not_retried(fake: FakeNovita) -> None:
    fake.fail_next("cleanup", Fault.delay(1.5))
    async with make_client(fast_settings(fake.url, read_timeout=0.3)) as client:
        with pytest.raises(errors.APITimeoutError):
            await client.cleanup(IMAGE, MASK)
    assert len(fake.requests) == 1


async def test_connection_refused_is_retried_then_reported() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once we leave: nothing listens there
    sleep = SleepRecorder()
    async with make_client(fast_settings(f"http://127.0.0.1:{port}", max_attempts=3), sleep) as client:
        with pytest.raises(errors.APIConnectionError, match="Could not reach Novita"):
            await client.cleanup(IMAGE, MASK)
    assert len(sleep.delays) == 2


async def test_connect_timeout_is_retried_then_a_timeout_error() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectTimeout("timed out", request=request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    settings = Settings.load(env={}, api_key=TEST_KEY, max_attempts=3)
    client = NovitaClient(settings, http=http, sleep=SleepRecorder())
    with pytest.raises(errors.APITimeoutError, match="in time"):
        await client.erase(IMAGE, mask=MASK)
    assert len(calls) == 3
    await http.aclose()


async def test_redirects_are_never_followed_with_the_key() -> None:
    seen_hosts = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen_hosts.append(request.url.host)
        return httpx.Response(302, headers={"Location": "https://evil.example/steal"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = NovitaClient(Settings.load(env={}, api_key=TEST_KEY), http=http, sleep=SleepRecorder())
    with pytest.raises(errors.MalformedResponseError):
        await client.cleanup(IMAGE, MASK)
    assert seen_hosts == ["api.novita.ai"]
    await http.aclose()


# ---- tasks --------------------------------------------------------------------------------------------


async def test_failed_task_names_task_id_and_reason(fake: FakeNovita) -> None:
    fake.task_plan = TaskPlan(processing_polls=1, fail_reason="content moderation")
    async with make_client(fast_settings(fake.url)) as client:
        with pytest.raises(errors.TaskFailedError) as caught:
            await client.erase(IMAGE, mask=MASK)
    task_id = fake.requests_to("/v3/async/image-eraser")[0].extras["task_id"]
    assert task_id in str(caught.value) and "content moderation" in str(caught.value)
    assert caught.value.task_id == task_id


async def test_a_task_that_never_finishes_times_out_with_its_id(fake: FakeNovita) -> None:
    fake.task_plan = TaskPlan(never_finish=True)
    started = time.monotonic()
    async with NovitaClient(fast_settings(fake.url, poll_deadline=0.4)) as client:
        with pytest.raises(errors.TaskTimeoutError) as caught:
            await client.erase(IMAGE, mask=MASK)
    assert time.monotonic() - started < 2.0
    assert caught.value.task_id in str(caught.value)


async def test_task_not_found_is_a_task_error(fake: FakeNovita) -> None:
    fake.fail_next("task", Fault.status(404, reason="TASK_NOT_FOUND"))
    async with make_client(fast_settings(fake.url)) as client:
        with pytest.raises(errors.TaskFailedError, match="TASK_NOT_FOUND"):
            await client.erase(IMAGE, mask=MASK)


@pytest.mark.parametrize("fault", [Fault.expired(), Fault.not_found()])
async def test_an_expired_result_link_is_a_download_error(fake: FakeNovita, fault: Fault) -> None:
    fake.fail_next("store", fault)
    async with make_client(fast_settings(fake.url)) as client:
        with pytest.raises(errors.ResultDownloadError, match="no longer available") as caught:
            await client.erase(IMAGE, mask=MASK)
    assert caught.value.task_id in str(caught.value)
    assert len(fake.requests_to("/results/")) == 1


@pytest.mark.parametrize("cut", [False, True])
async def test_a_truncated_result_is_downloaded_again(fake: FakeNovita, cut: bool) -> None:
    fake.fail_next("store", Fault.truncated(cut_connection=cut))
    async with make_client(fast_settings(fake.url)) as client:
        result = await client.erase(IMAGE, mask=MASK, output_format="png")
    assert decode(result.data)[1].shape == (H, W, 3)
    assert len(fake.requests_to("/results/")) == 2


async def test_a_result_that_stays_broken_is_a_download_error(fake: FakeNovita) -> None:
    fake.fail_next("store", *[Fault.truncated()] * 4)
    async with make_client(fast_settings(fake.url, download_attempts=4)) as client:
        with pytest.raises(errors.ResultDownloadError, match="damaged"):
            await client.erase(IMAGE, mask=MASK)


async def test_invalid_base64_from_cleanup_is_reported(fake: FakeNovita) -> None:
    fake.fail_next("cleanup", Fault.invalid_base64())
    async with make_client(fast_settings(fake.url)) as client:
        with pytest.raises(errors.MalformedResponseError, match="damaged"):
            await client.cleanup(IMAGE, MASK)


async def test_polling_uses_the_eta_to_poll_rarely_then_briskly(fake: FakeNovita) -> None:
    """Over a 1.5 s task: few polls, and the image arrives soon after the task is done."""
    # One clock for the fake's task and the client's waits, moved only by those waits: the count of polls
    # and the time they took cannot change with how busy the machine is.
    clock = FakeClock()
    fake.clock = clock
    fake.task_plan = TaskPlan(duration=1.5)
    settings = fast_settings(fake.url, poll_min_interval=0.1, poll_max_interval=2.0)
    async with NovitaClient(settings, sleep=clock.sleep, clock=clock) as client:
        started = clock()
        await client.erase(IMAGE, mask=MASK)
        elapsed = clock() - started
    polls = len(fake.requests_to("/v3/async/task-result"))
    assert 1.5 <= elapsed < 1.5 + 0.5
    assert polls <= 8


def test_large_base64_fields_are_spliced_into_valid_json() -> None:
    from novita_ui.novita.wire import Base64Field
    from novita_ui.novita.wire import json_bytes as _json_bytes

    photo = bytes(range(256)) * 100
    body = {
        "image": Base64Field(photo, "data:image/jpeg;base64,"),
        "mask": Base64Field(b"\x89PNG"),
        "prompt": 'a "dog"\n',
        "n": 1,
    }
    assert json.loads(_json_bytes(body)) == {
        "image": "data:image/jpeg;base64," + base64.b64encode(photo).decode(),
        "mask": base64.b64encode(b"\x89PNG").decode(),
        "prompt": 'a "dog"\n',
        "n": 1,
    }
    assert json.loads(_json_bytes({"image_file": Base64Field(b"abc")})) == {"image_file": "YWJj"}
    assert json.loads(_json_bytes({"n": 1})) == {"n": 1}


def test_settings_repr_hides_the_key() -> None:
    settings = Settings.load(env={"NOVITA_API_KEY": "sk_secret_canary"})
    assert settings.api_key == "sk_secret_canary"
    assert "sk_secret_canary" not in repr(settings)


def test_a_calls_options_repr_hides_the_key() -> None:
    """A call's options reach log lines and tracebacks as a repr (a user's key must not)."""
    options = CallOptions(api_key="sk_secret_canary", session="0123456789")
    assert options.api_key == "sk_secret_canary"
    assert "sk_secret_canary" not in repr(options) and "0123456789" in repr(options)


# ---- the scrubber and the retry decision ------------------------------------------------------------------

SECRET = "sk_live_0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {SECRET}", "Authorization: Bearer ***"),
        (f"key={SECRET}&x=1", "key=***&x=1"),
        (f"task-{SECRET.upper()}-7", "task-***-7"),  # case does not hide it
        (f"part {SECRET[3:11]} only", "part *** only"),  # any 8 characters of it
        (f"short {SECRET[3:10]} run", f"short {SECRET[3:10]} run"),  # 7 are too common to mask
        ("INVALID_API_KEY", "INVALID_API_KEY"),
    ],
)
def test_the_scrubber_hides_any_8_character_run_of_a_key(text: str, expected: str) -> None:
    from novita_ui.novita.scrub import Scrubber

    assert Scrubber([SECRET, None, ""])(text) == expected


def test_the_scrubber_cuts_long_upstream_text() -> None:
    from novita_ui.novita.scrub import Scrubber

    assert Scrubber([SECRET])("x" * 5000 + SECRET, limit=100) == "x" * 99 + "…"


@pytest.mark.parametrize(
    ("method", "failure", "retry"),
    [
        ("POST", {"status": 503}, True),
        ("POST", {"status": 429}, True),
        ("POST", {"status": 400}, False),
        ("POST", {"sent": False}, True),  # could not connect: nothing reached Novita
        ("POST", {"sent": True}, False),  # read timeout, dropped: a task may exist
        ("GET", {"sent": True}, True),
        ("GET", {"status": 404}, False),
    ],
)
def test_the_retry_decision(method: str, failure: dict[str, object], retry: bool) -> None:
    from novita_ui.novita.retry import Failure, should_retry

    assert should_retry(method, Failure(errors.RemoteError("x"), "x", **failure)) is retry  # type: ignore[arg-type]  # table values
