"""Remove all text in one request (Novita's /v3/remove-text), against the real fake server over HTTP.

The fake removes ink of the colour TEXT_INK and answers the whole image re-encoded as a JPEG, as a service
may: a client that kept the service's pixels everywhere would fail every "untouched" check here.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image

from novita_ui import batch
from novita_ui.cli import main
from novita_ui.config import Settings
from novita_ui.errors import AuthenticationError, BudgetExhaustedError, InputError, MalformedResponseError
from novita_ui.novita.client import CallOptions, NovitaClient
from novita_ui.pixels import changes, imaging
from novita_ui.pixels.imaging import OutputFormat
from novita_ui.runtime.guard import SpendGuard
from novita_ui.service import NO_TEXT_FOUND, RemoveRequest, Service
from tests.conftest import fast_settings
from tests.fake_novita import FILL, TEST_KEY, TEXT_INK, FakeNovita, Fault, ink_mask
from tests.images import encode, photo_like


def with_caption(width: int, height: int, text: str = "HOLIDAY 2026", seed: int = 0) -> np.ndarray:
    """A photo with a caption burnt in, in the fake's "text" colour."""
    pixels = np.ascontiguousarray(photo_like(width, height, seed))
    pixels[..., 1] = np.maximum(pixels[..., 1], 100)  # no natural pixel near the ink's colour (G = 0)
    scale = width / 400
    origin = (int(width * 0.1), int(height * 0.8))
    cv2.putText(pixels, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_INK, max(2, int(2 * scale)))
    return pixels


def near_text(pixels: np.ndarray, margin: int) -> np.ndarray:
    """Where the caption is, grown by ``margin`` px: outside it nothing may change."""
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    return cv2.dilate(ink_mask(pixels), kernel) > 0


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


async def test_the_client_sends_bare_base64_and_reads_the_answer(fake: FakeNovita) -> None:
    photo = encode(with_caption(200, 120), "PNG")
    async with NovitaClient(fast_settings(fake.url)) as client:
        result = await client.remove_text(photo, output_format="png")
    (sent,) = fake.requests_to("/v3/remove-text")
    assert sent.image_form == "base64" and sent.json["extra"] == {"response_image_type": "png"}
    assert sent.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert result.format == "JPEG" and result.size == (200, 120)  # whatever type came back is read


@pytest.mark.parametrize("form", ["bare", "data_uri"])
async def test_the_answer_is_read_tolerantly(form: str) -> None:
    png = encode(photo_like(20, 10), "PNG")
    text = base64.b64encode(png).decode()
    image = text if form == "bare" else "data:image/png;base64," + text

    def answer(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["image_file"] == base64.b64encode(b"photo").decode()
        return httpx.Response(200, json={"image_file": image, "image_type": "png", "unknown": [1]})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    async with http, NovitaClient(Settings.load(env={}, api_key=TEST_KEY), http=http) as client:
        assert (await client.remove_text(b"photo")).size == (20, 10)


async def test_failures_read_like_the_other_engines(fake: FakeNovita) -> None:
    photo = encode(with_caption(200, 120))
    notes: list[str] = []
    async with NovitaClient(fast_settings(fake.url)) as client:
        fake.fail_next("remove-text", Fault.status(503))
        await client.remove_text(photo, options=CallOptions(on_progress=lambda p: notes.append(p.note or "")))
        assert any("Novita is busy (503); trying again" in n for n in notes)  # the one retry policy
        fake.fail_next("remove-text", Fault.invalid_base64())
        with pytest.raises(MalformedResponseError, match="remove-text answer held a damaged image"):
            await client.remove_text(photo)
        with pytest.raises(AuthenticationError) as caught:
            await client.remove_text(photo, options=CallOptions(api_key="sk_not_a_key_at_the_fake"))
    assert "sk_not_a_key_at_the_fake" not in str(caught.value)


@pytest.mark.parametrize("fmt", ["png", "webp", "jpeg"])
async def test_only_what_the_service_changed_comes_back(service: Service, fmt: OutputFormat) -> None:
    pixels = with_caption(480, 320)
    source = encode(pixels, "PNG") if fmt != "jpeg" else encode(pixels, "JPEG", quality=95)
    original = imaging.open_photo(source).rgb
    result = await service.remove(RemoveRequest(engine="remove-text", image=source, output_format=fmt))
    out = decoded(result.data)
    assert out.shape == original.shape and result.note is None
    assert not near_text(out, 0).any()  # no ink left: the caption is gone
    text = near_text(pixels, 2)
    assert np.abs(out[text].astype(int) - FILL).mean() < 20  # the fake's fill, through its own JPEG
    # Bit-identical away from the text; JPEG to JPEG keeps every untouched 8 x 8 block (4:2:0 chroma
    # blocks cover 16 px and blend 1 px further), so it decodes to the very same pixels there.
    outside = ~near_text(pixels, 28 if fmt == "jpeg" else 12)
    assert np.array_equal(out[outside], original[outside])
    assert result.written == ("jpeg blocks" if fmt == "jpeg" else "re-encoded")


async def test_a_client_returning_the_services_pixels_would_be_caught(fake: FakeNovita) -> None:
    """The fake re-encodes everything: its answer differs from the photo far from any text."""
    pixels = with_caption(240, 160)
    async with NovitaClient(fast_settings(fake.url)) as client:
        answer = decoded((await client.remove_text(encode(pixels, "PNG"))).data)
    outside = ~near_text(pixels, 12)
    assert np.abs(answer[outside].astype(int) - pixels[outside]).max() > 0


def test_the_change_is_found_above_the_re_encoding_noise() -> None:
    pixels = with_caption(480, 320)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=60)  # heavy noise everywhere
    noisy = decoded(buffer.getvalue()).copy()
    noisy[near_text(pixels, 1)] = FILL
    found = changes.changed_region(pixels, noisy) > 0
    assert found[near_text(pixels, 1)].all()  # all of the caption
    assert not found[~near_text(pixels, 1 + changes.GROW + 3)].any()  # and nothing far from it


async def test_a_photo_without_text_comes_back_unchanged_and_says_so(service: Service) -> None:
    source = encode(with_caption(240, 160, text=""), "PNG")
    result = await service.remove(RemoveRequest(engine="remove-text", image=source, output_format="png"))
    assert np.array_equal(decoded(result.data), decoded(source)) and result.note == NO_TEXT_FOUND


@pytest.mark.slow  # a 17.5 MP photo
async def test_above_16_mp_the_whole_photo_is_sent_downscaled_and_the_note_says_so(
    service: Service, fake: FakeNovita
) -> None:
    pixels = with_caption(5000, 3500, seed=2)  # 17.5 MP
    source = encode(pixels, "PNG", compress_level=1)
    result = await service.remove(RemoveRequest(engine="remove-text", image=source, output_format="png"))
    (sent,) = fake.requests_to("/v3/remove-text")
    w, h = sent.extras["image_size"]
    assert w * h <= 16_000_000 and w < 5000
    assert result.note and result.note.startswith("The whole photo was sent at 96% of its size")
    out = decoded(result.data)
    outside = ~near_text(pixels, 16)
    assert out.shape == pixels.shape and np.array_equal(out[outside], pixels[outside])


async def test_the_servers_key_is_counted_by_the_spend_guard(fake: FakeNovita) -> None:
    service = Service(fast_settings(fake.url), guard=SpendGuard(1))
    photo = encode(with_caption(200, 120))
    try:
        await service.remove(RemoveRequest(engine="remove-text", image=photo))
        with pytest.raises(BudgetExhaustedError):
            await service.remove(RemoveRequest(engine="remove-text", image=photo))
    finally:
        await service.aclose()
    assert len(fake.requests_to("/v3/remove-text")) == 1


@pytest.fixture
def cli_env(fake: FakeNovita, monkeypatch: pytest.MonkeyPatch) -> FakeNovita:
    monkeypatch.setenv("NOVITA_API_KEY", TEST_KEY)
    monkeypatch.setenv("NOVITA_BASE_URL", fake.url)
    return fake


def test_the_cli_removes_text_with_the_key_from_the_environment(
    cli_env: FakeNovita, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pixels = with_caption(240, 160)
    photo, out = tmp_path / "poster.png", tmp_path / "poster-clean.webp"
    photo.write_bytes(encode(pixels, "PNG"))
    assert main(["remove-text", str(photo), "--output", str(out)]) == 0
    with Image.open(out) as result:
        assert result.format == "WEBP" and result.size == (240, 160)  # the format from the suffix
        after = np.asarray(result.convert("RGB"))
    outside = ~near_text(pixels, 12)
    assert np.array_equal(after[outside], pixels[outside])  # lossless WebP from a PNG: exact
    assert TEST_KEY not in capsys.readouterr().err
    assert main(["remove-text", str(photo), "--format", "png", "--output", str(tmp_path / "a.avif")]) == 2
    assert len(cli_env.requests_to("/v3/remove-text")) == 1


def test_the_cli_without_a_key_says_how_to_get_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "poster.png"
    photo.write_bytes(encode(with_caption(80, 60), "PNG"))
    assert main(["remove-text", str(photo), "-o", str(tmp_path / "out.png")]) == 2
    assert "remove-text needs a Novita API key: set NOVITA_API_KEY" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


def test_batch_removes_the_text_of_every_photo_in_a_folder(cli_env: FakeNovita, tmp_path: Path) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for i in range(3):
        (source / f"slide{i}.png").write_bytes(encode(with_caption(200, 120, f"SLIDE {i}", seed=i), "PNG"))
    settings = fast_settings(cli_env.url)
    # No rate limit here: Novita's 10 images/min (checked below) would wait out 12 s between these three.
    options = batch.BatchOptions(
        input_dir=source, output_dir=out, engine="remove-text", progress=False, rate="none"
    )
    result = asyncio.run(batch.run_batch_async(options, settings))
    assert result.exit_code == 0 and result.counts["done"] == 3
    assert len(cli_env.requests_to("/v3/remove-text")) == 3
    for i in range(3):
        after = decoded((out / f"slide{i}-cleaned.png").read_bytes())
        assert not near_text(after, 0).any()
    assert batch.default_rate("remove-text", None) == pytest.approx(10 / 60)  # Novita's documented limit
    with pytest.raises(InputError, match="remove-text takes no --mask"):
        asyncio.run(batch.run_batch_async(dataclasses.replace(options, mask=source / "slide0.png"), settings))
