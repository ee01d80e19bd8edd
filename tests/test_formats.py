"""Photos as phones save them (HEIC, AVIF) and animations: read upright, sent as Novita takes them, said so.

Every test image is made in code: pillow-heif writes HEIC, Pillow writes AVIF, GIF and WebP animations.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from novita_ui import batch
from novita_ui.cli import main
from novita_ui.config import Settings
from novita_ui.errors import InputError
from novita_ui.pixels import imaging
from novita_ui.pixels.imaging import OutputFormat
from novita_ui.runtime.storage import write_atomic
from novita_ui.service import RemoveRequest, Service
from tests.fake_novita import FILL, TEST_KEY, FakeNovita
from tests.images import box_mask, encode, phone_photo, photo_like, srgb_profile

W, H = 120, 80  # as stored; the phone's EXIF orientation 6 shows it 80 x 120 (turned clockwise)
BOX = (20, 30, 60, 70)  # in the upright photo


def _stored() -> np.ndarray:
    return photo_like(W, H, seed=3)


def _upright_mask() -> bytes:
    return encode(box_mask(H, W, BOX), "PNG")


def _exif_make(image: Image.Image) -> object:
    return image.getexif().get(0x010F)


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the process's umask after a test sets one."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize("kind", ["HEIF", "AVIF"])
@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
async def test_a_phone_photo_is_read_upright_and_keeps_its_exif_and_profile(
    kind: str, fmt: OutputFormat
) -> None:
    icc = srgb_profile()
    data = phone_photo(_stored(), kind, orientation=6, icc=icc)
    photo = imaging.open_photo(data)
    assert photo.size == (H, W)  # upright: turned as the phone said
    # The upright pixels are the stored ones turned clockwise (a lossy codec: close, not equal).
    turned = np.rot90(_stored(), -1).astype(int)
    assert np.abs(photo.rgb.astype(int) - turned).mean() < 6
    service = Service(Settings.load(env={}), workers=1, processes=False)
    try:
        request = RemoveRequest(engine="local", image=data, mask_file=_upright_mask(), output_format=fmt)
        result = await service.remove(request)
    finally:
        await service.aclose()
    out = Image.open(io.BytesIO(result.data))
    assert out.format == {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}[fmt]
    assert out.size == (H, W) and result.size == (H, W)
    assert _exif_make(out) == "TestPhone" and out.getexif().get(0x0112, 1) == 1  # kept, and upright
    assert out.info.get("icc_profile") == icc
    pixels = np.asarray(out.convert("RGB")).astype(int)
    outside = box_mask(H, W, BOX) == 0
    error = np.abs(pixels - photo.rgb.astype(int))[outside]
    assert error.max() == 0 if fmt == "png" else error.mean() < 3  # only the mask changed
    assert result.note is None  # the offline engine sent nothing anywhere


async def test_a_heic_photo_goes_to_novita_once_as_jpeg_and_the_note_says_so(
    service: Service, fake: FakeNovita
) -> None:
    data = phone_photo(_stored(), "HEIF", orientation=6)
    request = RemoveRequest(engine="cleanup", image=data, mask_file=_upright_mask(), output_format="png")
    result = await service.remove(request)
    (sent,) = fake.requests_to("/v3/cleanup")
    assert sent.extras["image_format"] == "JPEG" and sent.extras["image_size"] == (H, W)
    assert result.note and "Novita does not take HEIC" in result.note and "JPEG at quality 95" in result.note
    pixels = np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB"))
    original = imaging.open_photo(data).rgb
    inside = box_mask(H, W, BOX) > 0
    assert np.array_equal(pixels[~inside], original[~inside])  # the HEIC's own pixels, not the JPEG's
    assert (pixels[inside] == FILL).all()


async def test_an_avif_photo_with_transparency_goes_to_novita_as_lossless_png(
    service: Service, fake: FakeNovita
) -> None:
    rgba = np.dstack([photo_like(W, H), np.full((H, W), 255, np.uint8)])
    rgba[:10, :10, 3] = 0
    data = encode(Image.fromarray(rgba, "RGBA"), "AVIF", quality=90)
    result = await service.remove(
        RemoveRequest(engine="cleanup", image=data, mask_file=encode(box_mask(W, H, BOX), "PNG"))
    )
    assert fake.requests_to("/v3/cleanup")[0].extras["image_format"] == "PNG"
    assert result.note and "Novita does not take AVIF" in result.note and "lossless PNG" in result.note


@pytest.mark.parametrize("kind", ["GIF", "WEBP"])
async def test_an_animation_is_cleaned_as_one_still_frame_and_the_note_says_so(kind: str) -> None:
    frames = [Image.fromarray(photo_like(W, H, seed=i)) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, kind, save_all=True, append_images=frames[1:], duration=100, loop=0)
    service = Service(Settings.load(env={}), workers=1, processes=False)
    try:
        mask = encode(box_mask(W, H, BOX), "PNG")
        request = RemoveRequest(engine="local", image=buffer.getvalue(), mask_file=mask, output_format="png")
        result = await service.remove(request)
    finally:
        await service.aclose()
    name = "GIF" if kind == "GIF" else "WebP"
    said = f"This animated {name} was cleaned as one still frame (its first): the result is a still."
    assert result.note == said
    assert getattr(Image.open(io.BytesIO(result.data)), "n_frames", 1) == 1


def test_the_cannot_open_message_lists_every_accepted_format() -> None:
    with pytest.raises(InputError) as caught:
        imaging.open_photo(b"these are notes, not a photo")
    assert "JPEG, PNG, WebP, HEIC/HEIF, AVIF, BMP, TIFF or GIF" in str(caught.value)


@pytest.fixture
def cli_env(fake: FakeNovita, monkeypatch: pytest.MonkeyPatch) -> FakeNovita:
    monkeypatch.setenv("NOVITA_API_KEY", TEST_KEY)
    monkeypatch.setenv("NOVITA_BASE_URL", fake.url)
    return fake


def test_the_cli_cleans_a_heic_photo_into_an_upright_jpeg(tmp_path: Path, cli_env: FakeNovita) -> None:
    photo, mask = tmp_path / "IMG_0001.HEIC", tmp_path / "mask.png"
    photo.write_bytes(phone_photo(_stored(), "HEIF", orientation=6))
    mask.write_bytes(_upright_mask())
    out = tmp_path / "clean.jpg"
    assert main(["cleanup", str(photo), "--mask", str(mask), "--output", str(out)]) == 0
    with Image.open(out) as result:
        assert result.format == "JPEG" and result.size == (H, W) and _exif_make(result) == "TestPhone"


@pytest.mark.parametrize(
    "args",
    [["--output", "photo.avif"], ["--output", "photo.heic"], ["--format", "png", "--output", "x.avif"]],
)
def test_an_output_name_the_cli_cannot_write_is_refused_before_any_work(
    args: list[str], tmp_path: Path, cli_env: FakeNovita, capsys: pytest.CaptureFixture[str]
) -> None:
    photo, mask = tmp_path / "photo.jpg", tmp_path / "mask.png"
    photo.write_bytes(encode(photo_like(W, H)))
    mask.write_bytes(encode(box_mask(W, H, BOX), "PNG"))
    target = tmp_path / args[-1]
    args[-1] = str(target)
    assert main(["cleanup", str(photo), "--mask", str(mask), *args]) == 2
    err = capsys.readouterr().err
    assert f"cannot write {target.name}: results are JPEG, PNG or WebP" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.png", "photo.jpg"]
    assert cli_env.requests == []  # nothing sent, nothing paid


def test_the_cli_says_an_animation_was_cleaned_as_one_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = [Image.fromarray(photo_like(W, H, seed=i)) for i in range(2)]
    photo, mask = tmp_path / "wave.gif", tmp_path / "mask.png"
    frames[0].save(photo, save_all=True, append_images=frames[1:], duration=100)
    mask.write_bytes(encode(box_mask(W, H, BOX), "PNG"))
    assert main(["local", str(photo), "--mask", str(mask), "--output", str(tmp_path / "still.png")]) == 0
    assert "This animated GIF was cleaned as one still frame" in capsys.readouterr().err


@pytest.mark.parametrize("mask_bits, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_saved_files_follow_the_users_umask(mask_bits: int, mode: int, tmp_path: Path, umask: None) -> None:
    os.umask(mask_bits)
    photo, mask = tmp_path / "photo.jpg", tmp_path / "mask.png"
    photo.write_bytes(encode(photo_like(W, H)))
    mask.write_bytes(encode(box_mask(W, H, BOX), "PNG"))
    out = tmp_path / "out.jpg"
    assert main(["local", str(photo), "--mask", str(mask), "--output", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == mode
    assert write_atomic(tmp_path / "report.json", b"{}").stat().st_mode & 0o777 == mode


def test_batch_picks_up_phone_photos_and_returns_them_as_jpeg(tmp_path: Path, umask: None) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    (source / "a.heic").write_bytes(phone_photo(photo_like(W, H), "HEIF"))
    (source / "b.HEIF").write_bytes(phone_photo(photo_like(W, H, seed=1), "HEIF"))
    (source / "c.avif").write_bytes(phone_photo(photo_like(W, H, seed=2), "AVIF"))
    (source / "d.png").write_bytes(encode(photo_like(W, H, seed=4), "PNG"))
    mask = tmp_path / "mask.png"
    mask.write_bytes(encode(box_mask(W, H, BOX), "PNG"))
    options = batch.BatchOptions(input_dir=source, output_dir=out, mask=mask, engine="local", progress=False)
    result = asyncio.run(batch.run_batch_async(options, Settings.load(env={})))
    assert result.exit_code == 0 and result.counts["done"] == 4
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("report"))
    assert names == ["a-cleaned.jpg", "b-cleaned.jpg", "c-cleaned.jpg", "d-cleaned.png"]
    for name in names:
        assert (out / name).stat().st_mode & 0o777 == 0o644
        with Image.open(out / name) as image:
            assert image.size == (W, H)
