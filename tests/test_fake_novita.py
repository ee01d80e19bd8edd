"""The fake Novita server behaves like the API notes say, and its scripting works (real HTTP, httpx)."""

from __future__ import annotations

import base64
import email.utils
import functools
import io
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.clock import FakeClock
from tests.fake_novita import (
    FAILED,
    FILL,
    PROCESSING,
    QUEUED,
    SUCCEED,
    TEST_KEY,
    UNKNOWN,
    FakeNovita,
    Fault,
    TaskPlan,
    central_box,
    http_date,
    running_fake_novita,
)

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
ERASER, TASK, CLEANUP = "/v3/async/image-eraser", "/v3/async/task-result", "/v3/cleanup"
MAGIC = {"jpeg": b"\xff\xd8\xff", "png": b"\x89PNG\r\n\x1a\n", "webp": b"RIFF"}


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One shared context: building one per httpx client costs ~50 ms, which would dominate this suite."""
    return ssl.create_default_context()


def anon_get(url: str, **kwargs: Any) -> httpx.Response:
    """GET with no auth header, as a client downloading from the object store must."""
    return httpx.get(url, verify=ssl_context(), **kwargs)


@pytest.fixture
def fake() -> Iterator[FakeNovita]:
    with running_fake_novita() as server:
        yield server


@pytest.fixture
def client(fake: FakeNovita) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, headers=AUTH, timeout=10, verify=ssl_context()) as http:
        yield http


def encode(image: Image.Image, fmt: str = "PNG") -> str:
    """Bare base64 of ``image`` saved as ``fmt``."""
    out = io.BytesIO()
    image.save(out, fmt, compress_level=1) if fmt == "PNG" else image.save(out, fmt)
    return base64.b64encode(out.getvalue()).decode()


def data_uri(image: Image.Image) -> str:
    return "data:image/png;base64," + encode(image)


def photo(width: int = 60, height: int = 40, mode: str = "RGB") -> Image.Image:
    """A gradient that never contains FILL, so any FILL pixel in a result was painted by the fake."""
    ys, xs = np.mgrid[0:height, 0:width]
    rgb = np.stack([xs * 4 % 256, ys * 6 % 256, np.full_like(xs, 90)], axis=-1).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB").convert(mode)
    if mode == "RGBA":  # translucent, or WebP drops an all-opaque alpha channel
        image.putalpha(Image.fromarray((xs * 3 % 256).astype(np.uint8), "L"))
    return image


def mask_with_box(
    width: int = 60, height: int = 40, box: tuple[int, int, int, int] = (5, 5, 20, 15)
) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    left, top, right, bottom = box
    mask[top:bottom, left:right] = 255
    return mask


def submit(client: httpx.Client, **body: Any) -> str:
    body.setdefault("image", data_uri(photo()))
    body.setdefault("prompt", "dog")
    response = client.post(ERASER, json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["task_id"])


def poll(client: httpx.Client, task_id: str) -> dict[str, Any]:
    response = client.get(TASK, params={"task_id": task_id})
    assert response.status_code == 200, response.text
    return dict(response.json())


def finished_result(client: httpx.Client, task_id: str) -> bytes:
    """Poll once (default plan: done at once) and download the image from the store, without auth."""
    result = poll(client, task_id)
    assert result["task"]["status"] == SUCCEED
    return anon_get(result["images"][0]["image_url"]).content


# ---------------------------------------------------------------- auth


def test_missing_key_is_401_and_wrong_key_is_403(fake: FakeNovita) -> None:
    body = {"image": encode(photo()), "prompt": "dog"}
    missing = httpx.post(fake.url + ERASER, verify=ssl_context(), json=body)
    empty = httpx.post(
        fake.url + ERASER, verify=ssl_context(), json=body, headers={"Authorization": "Bearer"}
    )
    wrong = httpx.post(
        fake.url + ERASER, verify=ssl_context(), json=body, headers={"Authorization": "Bearer sk_nope"}
    )
    assert (missing.status_code, missing.json()["reason"]) == (401, "MISSING_API_KEY")
    assert empty.status_code == 401
    assert (wrong.status_code, wrong.json()["reason"]) == (403, "INVALID_API_KEY")
    assert fake.keys_seen == ["sk_nope"]


def test_valid_keys_none_accepts_any_key() -> None:
    with running_fake_novita(valid_keys=None) as fake:
        response = anon_get(
            fake.url + TASK, params={"task_id": "x"}, headers={"Authorization": "Bearer sk_x"}
        )
        assert response.json()["reason"] == "TASK_NOT_FOUND"


def test_unknown_route_is_404(client: httpx.Client) -> None:
    response = client.get("/v3/nothing")
    assert (response.status_code, response.json()["reason"]) == (404, "API_NOT_FOUND")


# ---------------------------------------------------------------- eraser validation


@pytest.mark.parametrize(("image", "form"), [(data_uri(photo()), "data_uri"), (encode(photo()), "base64")])
def test_eraser_accepts_data_uri_and_bare_base64(
    client: httpx.Client, fake: FakeNovita, image: str, form: str
) -> None:
    mask = encode(Image.fromarray(mask_with_box()))
    task_id = submit(client, image=image, mask=mask, prompt=None)
    [rec] = fake.requests_to(ERASER)
    assert rec.image_form == form
    assert rec.extras["image_size"] == (60, 40)
    assert rec.extras["task_id"] == task_id
    assert rec.extras["mask_form"] == "base64"
    np.testing.assert_array_equal(rec.extras["mask"], mask_with_box())
    assert rec.headers["authorization"] == f"Bearer {TEST_KEY}"


def test_eraser_can_refuse_bare_base64(client: httpx.Client, fake: FakeNovita) -> None:
    fake.eraser_image_forms = {"data_uri"}
    response = client.post(ERASER, json={"image": encode(photo()), "prompt": "dog"})
    assert (response.status_code, response.json()["reason"]) == (400, "INVALID_IMAGE_FORMAT")
    submit(client, image=data_uri(photo()))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"image": encode(photo())}, "INVALID_REQUEST_BODY"),
        ({"prompt": "dog"}, "INVALID_REQUEST_BODY"),
        ({"image": encode(photo()), "prompt": "dog", "output_format": "gif"}, "INVALID_REQUEST_BODY"),
        ({"image": "!!!", "prompt": "dog"}, "INVALID_IMAGE_FORMAT"),
        ({"image": base64.b64encode(b"not an image").decode(), "prompt": "dog"}, "INVALID_IMAGE_FORMAT"),
        ({"image": encode(photo()), "mask": encode(Image.new("L", (61, 40)))}, "INVALID_IMAGE_SIZE"),
    ],
)
def test_eraser_rejects_bad_bodies(client: httpx.Client, body: dict[str, Any], reason: str) -> None:
    response = client.post(ERASER, json=body)
    assert response.status_code == 400
    assert response.json()["reason"] == reason


def test_eraser_rejects_over_16_megapixels(client: httpx.Client) -> None:
    huge = encode(Image.new("1", (4001, 4001)))  # 16.008 MP; 1-bit so it encodes fast and stays small
    response = client.post(ERASER, json={"image": huge, "prompt": "dog"})
    assert (response.status_code, response.json()["reason"]) == (400, "IMAGE_EXCEEDS_MAX_RESOLUTION")


def test_eraser_rejects_over_30_megabytes(client: httpx.Client) -> None:
    # 30 MB + 3 bytes of zeros, as base64 ("AAAA" = 3 zero bytes), built without encoding anything.
    big = b"A" * (4 * (30 * 1024 * 1024 // 3 + 1))
    response = client.post(ERASER, content=b'{"image": "' + big + b'", "prompt": "dog"}')
    assert (response.status_code, response.json()["reason"]) == (400, "IMAGE_FILE_EXCEEDS_MAX_SIZE")


# ---------------------------------------------------------------- the "model" and the store


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_output_honours_format_and_input_size(client: httpx.Client, fmt: str) -> None:
    task_id = submit(client, image=encode(photo(61, 33)), output_format=fmt)
    content = finished_result(client, task_id)
    assert content.startswith(MAGIC[fmt])
    assert Image.open(io.BytesIO(content)).size == (61, 33)


def test_eraser_defaults_to_jpeg(client: httpx.Client) -> None:
    assert finished_result(client, submit(client)).startswith(MAGIC["jpeg"])


def test_only_masked_pixels_change(client: httpx.Client) -> None:
    mask = mask_with_box()
    task_id = submit(client, mask=encode(Image.fromarray(mask)), prompt="dog", output_format="png")
    out = np.array(Image.open(io.BytesIO(finished_result(client, task_id))))
    original = np.array(photo())
    assert (out[mask > 127] == FILL).all()
    np.testing.assert_array_equal(out[mask <= 127], original[mask <= 127])


def test_prompt_without_mask_erases_the_central_box(client: httpx.Client) -> None:
    task_id = submit(client, output_format="png")
    out = np.array(Image.open(io.BytesIO(finished_result(client, task_id))))
    left, top, right, bottom = central_box(60, 40)
    expected = np.array(photo())
    expected[top:bottom, left:right] = FILL
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(("fmt", "mode"), [("png", "RGBA"), ("webp", "RGBA"), ("jpeg", "RGB")])
def test_alpha_is_kept_except_in_jpeg(client: httpx.Client, fmt: str, mode: str) -> None:
    task_id = submit(client, image=encode(photo(mode="RGBA")), output_format=fmt)
    assert Image.open(io.BytesIO(finished_result(client, task_id))).mode == mode


def test_store_never_sees_the_key(client: httpx.Client, fake: FakeNovita) -> None:
    url = poll(client, submit(client))["images"][0]["image_url"]
    assert url.startswith(fake.store_url + "/results/")
    assert fake.store_host == "127.0.0.2"
    anon_get(url).raise_for_status()
    [rec] = fake.requests_to("/results/")
    assert rec.host == "store"
    assert "authorization" not in rec.headers
    assert fake.keys_seen == [TEST_KEY, TEST_KEY]


def test_store_unknown_object_is_404(fake: FakeNovita) -> None:
    assert anon_get(fake.store_url + "/results/nothing.png").status_code == 404


# ---------------------------------------------------------------- task lifecycle


def test_task_goes_queued_processing_succeed(client: httpx.Client, fake: FakeNovita) -> None:
    fake.task_plan = TaskPlan(unknown_status_polls=1, queued_polls=2, processing_polls=3)
    task_id = submit(client)
    answers = [poll(client, task_id) for _ in range(7)]
    statuses = [a["task"]["status"] for a in answers]
    progress = [a["task"]["progress_percent"] for a in answers]
    assert statuses == [UNKNOWN, QUEUED, QUEUED, PROCESSING, PROCESSING, PROCESSING, SUCCEED]
    assert progress[1:] == [0, 0, 25, 50, 75, 100]
    assert [a["task"]["eta"] for a in answers[3:]] == [3, 2, 1, 0]
    assert all(not a["images"] for a in answers[:-1])
    assert answers[-1]["images"][0]["image_url_ttl"] == 3600
    assert answers[-1]["task"]["task_type"] == "IMAGE_ERASER"


def test_failed_task_answers_200_with_reason(client: httpx.Client, fake: FakeNovita) -> None:
    fake.task_plan = TaskPlan(fail_reason="content moderation")
    task = poll(client, submit(client))
    assert (task["task"]["status"], task["task"]["reason"], task["images"]) == (
        FAILED,
        "content moderation",
        [],
    )


def test_never_finish_stays_processing(client: httpx.Client, fake: FakeNovita) -> None:
    fake.task_plan = TaskPlan(never_finish=True)
    task_id = submit(client)
    assert {poll(client, task_id)["task"]["status"] for _ in range(5)} == {PROCESSING}


def test_ttl_can_be_a_string(client: httpx.Client, fake: FakeNovita) -> None:
    fake.task_plan = TaskPlan(image_url_ttl="3600")
    assert poll(client, submit(client))["images"][0]["image_url_ttl"] == "3600"


def test_unknown_task_is_404(client: httpx.Client) -> None:
    response = client.get(TASK, params={"task_id": "nope"})
    assert (response.status_code, response.json()["reason"]) == (404, "TASK_NOT_FOUND")


def test_duration_plan_is_time_based(client: httpx.Client, fake: FakeNovita) -> None:
    # The fake's clock moves only between polls, so a busy machine cannot squeeze the polls together.
    clock = FakeClock()
    fake.clock = clock
    fake.task_plan = TaskPlan(duration=0.5)
    task_id = submit(client)
    seen = []
    for _ in range(10):
        task = poll(client, task_id)["task"]
        seen.append((task["status"], task["progress_percent"], task["eta"]))
        if task["status"] == SUCCEED:
            break
        clock.now += 0.125
    # Progress is the elapsed fraction, eta the seconds left rounded up; the task ends at 0.5 s, not before.
    running = [(PROCESSING, progress, 1) for progress in (0, 25, 50, 75)]
    assert seen == [*running, (SUCCEED, 100, 0)]


def test_plan_applies_to_tasks_created_after_it(client: httpx.Client, fake: FakeNovita) -> None:
    before = submit(client)
    fake.task_plan = TaskPlan(queued_polls=1)
    after = submit(client)
    assert poll(client, before)["task"]["status"] == SUCCEED
    assert poll(client, after)["task"]["status"] == QUEUED


# ---------------------------------------------------------------- cleanup


def test_cleanup_answers_base64_png_by_default(client: httpx.Client, fake: FakeNovita) -> None:
    mask = mask_with_box()
    body = {"image_file": encode(photo()), "mask_file": encode(Image.fromarray(mask)), "extra": {}}
    answer = client.post(CLEANUP, json=body).json()
    assert answer["image_type"] == "png"
    out = np.array(Image.open(io.BytesIO(base64.b64decode(answer["image_file"]))))
    assert (out[mask > 127] == FILL).all()
    assert fake.requests_to(CLEANUP)[0].image_form == "base64"


def test_cleanup_tolerates_data_uris_and_honours_type(client: httpx.Client) -> None:
    body = {
        "image_file": data_uri(photo()),
        "mask_file": data_uri(Image.fromarray(mask_with_box())),
        "extra": {"response_image_type": "webp", "enterprise_plan": {"enabled": False}},
    }
    answer = client.post(CLEANUP, json=body).json()
    assert answer["image_type"] == "webp"
    assert base64.b64decode(answer["image_file"]).startswith(MAGIC["webp"])


def test_cleanup_requires_a_mask(client: httpx.Client) -> None:
    response = client.post(CLEANUP, json={"image_file": encode(photo()), "extra": {}})
    assert (response.status_code, response.json()["reason"]) == (400, "INVALID_REQUEST_BODY")


# ---------------------------------------------------------------- faults


def test_status_faults_are_consumed_in_order(client: httpx.Client, fake: FakeNovita) -> None:
    date = http_date(30)
    fake.fail_next("eraser", Fault.status(429, retry_after="2"), Fault.status(503, retry_after=date))
    fake.fail_next("eraser", Fault.status(500), Fault.status(400, reason="BILLING_BALANCE_NOT_ENOUGH"))
    answers = [client.post(ERASER, json={}) for _ in range(4)]
    assert [(a.status_code, a.json()["reason"]) for a in answers] == [
        (429, "RATE_LIMIT_EXCEEDED"),
        (503, "SERVICE_UNAVAILABLE"),
        (500, "CREATE_TASK_FAILED"),
        (400, "BILLING_BALANCE_NOT_ENOUGH"),
    ]
    assert answers[0].headers["retry-after"] == "2"
    assert email.utils.parsedate_to_datetime(answers[1].headers["retry-after"]).timestamp() > time.time() + 25
    assert "retry-after" not in answers[2].headers
    assert fake.pending_faults("eraser") == 0
    submit(client)  # faults spent: back to normal


def test_task_faults(client: httpx.Client, fake: FakeNovita) -> None:
    task_id = submit(client)
    fake.fail_next("task", Fault.status(500), Fault.status(504), Fault.status(418, body={"oops": 1}))
    answers = [client.get(TASK, params={"task_id": task_id}) for _ in range(3)]
    assert answers[0].json()["reason"] == "GET_RESULT_FAILED"
    assert answers[1].json()["reason"] == "GATEWAY_TIMEOUT"
    assert (answers[2].status_code, answers[2].json()) == (418, {"oops": 1})
    assert poll(client, task_id)["task"]["status"] == SUCCEED  # faulted requests are not polls


def test_malformed_json_and_html_502(client: httpx.Client, fake: FakeNovita) -> None:
    fake.fail_next("eraser", Fault.malformed_json(), Fault.html_502())
    malformed = client.post(ERASER, json={})
    assert (malformed.status_code, malformed.text) == (200, '{"task_id": ')
    assert malformed.headers["content-type"] == "application/json"
    html = client.post(ERASER, json={})
    assert html.status_code == 502
    assert html.headers["content-type"] == "text/html"
    assert "nginx" in html.text


def test_drop_connection(client: httpx.Client, fake: FakeNovita) -> None:
    fake.fail_next("cleanup", Fault.drop_connection())
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(CLEANUP, json={})
    assert len(fake.requests_to(CLEANUP)) == 1  # recorded even though never answered


def test_delay_causes_read_timeout_then_answers(client: httpx.Client, fake: FakeNovita) -> None:
    task_id = submit(client)
    fake.fail_next("task", Fault.delay(0.5), Fault.delay(0.2))
    with pytest.raises(httpx.ReadTimeout):
        client.get(TASK, params={"task_id": task_id}, timeout=0.1)
    started = time.monotonic()
    assert poll(client, task_id)["task"]["task_id"] == task_id
    assert time.monotonic() - started >= 0.2


def test_store_faults(client: httpx.Client, fake: FakeNovita) -> None:
    url = poll(client, submit(client, output_format="png"))["images"][0]["image_url"]
    full = anon_get(url).content
    fake.fail_next("store", Fault.expired(), Fault.not_found(), Fault.truncated(), Fault.status(500))
    expired = anon_get(url)
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code>" in expired.text and "Request has expired" in expired.text
    assert anon_get(url).status_code == 404
    truncated = anon_get(url)
    assert (truncated.status_code, truncated.content) == (200, full[: len(full) // 2])
    assert anon_get(url).status_code == 500
    assert anon_get(url).content == full


def test_store_truncated_with_cut_connection(client: httpx.Client, fake: FakeNovita) -> None:
    url = poll(client, submit(client))["images"][0]["image_url"]
    fake.fail_next("store", Fault.truncated(cut_connection=True))
    with pytest.raises(httpx.RemoteProtocolError):
        anon_get(url)


def test_cleanup_invalid_base64(client: httpx.Client, fake: FakeNovita) -> None:
    fake.fail_next("cleanup", Fault.invalid_base64())
    assert client.post(CLEANUP, json={}).json() == {"image_file": "!!!not base64!!!", "image_type": "png"}


@pytest.mark.parametrize(
    ("endpoint", "fault"),
    [
        ("eraser", Fault.expired()),
        ("task", Fault.truncated()),
        ("store", Fault.invalid_base64()),
        ("x", None),
    ],
)
def test_fault_for_the_wrong_endpoint_is_refused(
    fake: FakeNovita, endpoint: str, fault: Fault | None
) -> None:
    with pytest.raises(ValueError):
        fake.fail_next(endpoint, *([fault] if fault else []))


# ---------------------------------------------------------------- latency, concurrency, lifecycle


def test_32_concurrent_sessions_do_not_serialise_on_latency(fake: FakeNovita) -> None:
    fake.latency = 0.5
    image = encode(photo())

    def session(_: int) -> int:
        with httpx.Client(base_url=fake.url, headers=AUTH, timeout=10, verify=ssl_context()) as http:
            return http.post(ERASER, json={"image": image, "prompt": "dog"}).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        codes = list(pool.map(session, range(32)))
    elapsed = time.monotonic() - started
    assert codes == [200] * 32
    assert 0.5 <= elapsed < 2.0


def test_store_latency(client: httpx.Client, fake: FakeNovita) -> None:
    url = poll(client, submit(client))["images"][0]["image_url"]
    fake.store_latency = 0.3
    started = time.monotonic()
    anon_get(url)
    assert time.monotonic() - started >= 0.3


def test_reset_forgets_everything(client: httpx.Client, fake: FakeNovita) -> None:
    task_id = submit(client)
    fake.latency, fake.task_plan = 5.0, TaskPlan(never_finish=True)
    fake.valid_keys = set()  # every key revoked
    fake.fail_next("task", Fault.status(500))
    fake.reset()
    assert (fake.requests, fake.tasks, fake.latency, fake.task_plan) == ([], {}, 0.0, TaskPlan())
    assert fake.valid_keys == {TEST_KEY}
    assert fake.pending_faults("task") == 0
    assert client.get(TASK, params={"task_id": task_id}).status_code == 404


def test_recorded_request_fields(client: httpx.Client, fake: FakeNovita) -> None:
    started = time.monotonic()
    client.get(TASK, params={"task_id": "abc"}, headers={"X-Custom": "1"})
    [rec] = fake.requests
    assert (rec.host, rec.method, rec.path, rec.query, rec.json) == (
        "api",
        "GET",
        TASK,
        {"task_id": "abc"},
        None,
    )
    assert rec.headers["x-custom"] == "1"
    assert rec.time >= started
    fake.clear()
    assert fake.requests == []


def test_stop_closes_the_port() -> None:
    fake = FakeNovita().start()
    url = fake.url
    fake.stop()
    with pytest.raises(httpx.ConnectError):
        anon_get(url + TASK, timeout=1)


def test_runs_by_hand_as_a_module() -> None:
    command = [sys.executable, "-m", "tests.fake_novita", "--port", "0", "--queued-polls", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    try:
        assert process.stdout is not None
        lines = dict(process.stdout.readline().strip().split("=", 1) for _ in range(3))
        assert lines["FAKE_NOVITA_KEY"] == TEST_KEY
        headers = {"Authorization": f"Bearer {TEST_KEY}"}
        with httpx.Client(
            base_url=lines["FAKE_NOVITA_URL"], headers=headers, timeout=5, verify=ssl_context()
        ) as http:
            assert poll(http, submit(http))["task"]["status"] == QUEUED
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
