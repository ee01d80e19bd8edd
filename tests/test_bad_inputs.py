"""Bad inputs: each gets a clear message or a correct result; the service keeps serving; memory stays bounded.

The outcome of every kind goes to ``test-output/bad-inputs.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from novita_ui.errors import InputError
from novita_ui.service import RemoveRequest, Service
from tests.conftest import fast_settings
from tests.images import box_mask, encode, jpeg_with_orientation, photo_like

OUTPUT = Path(__file__).resolve().parents[1] / "test-output" / "bad-inputs.md"
W, H = 120, 80
GOOD = encode(photo_like(W, H))
MASK = encode(box_mask(W, H, (40, 20, 80, 60)), "PNG")


def _png_with_header(width: int, height: int, mode_bytes: bytes = b"\x08\x00") -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">II", width, height) + mode_bytes + b"\x00\x00\x00"
    data = zlib.compress(b"\x00" * (width + 1) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def _animated_gif() -> bytes:
    frames = [Image.fromarray(photo_like(W, H, seed=s)).convert("P") for s in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def _palette_transparent() -> bytes:
    image = Image.fromarray(photo_like(W, H)).convert("P")
    return encode(image, "PNG", transparency=0)


def _multipage_tiff() -> bytes:
    buffer = io.BytesIO()
    pages = [Image.fromarray(photo_like(W, H, seed=s)) for s in range(2)]
    pages[0].save(buffer, "TIFF", save_all=True, append_images=pages[1:])
    return buffer.getvalue()


def _soft_alpha_mask() -> bytes:
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 3] = np.clip(255 - np.hypot(*np.mgrid[-H // 2 : H // 2, -W // 2 : W // 2]) * 8, 0, 255)
    return encode(Image.fromarray(rgba), "PNG")


# (name, image bytes, mask bytes, expected: "ok" or a piece of the message)
KINDS: list[tuple[str, bytes, bytes, str]] = [
    ("zero-byte image", b"", MASK, "empty"),
    ("text named .jpg", b"just some notes\n", MASK, "could not be read as an image"),
    ("HTML page", b"<!doctype html><html><body>hi</body></html>", MASK, "could not be read as an image"),
    ("SVG", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', MASK, "could not be read"),
    (
        "HEIC (Pillow cannot read)",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
        MASK,
        "could not be read",
    ),
    ("PDF", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF", MASK, "could not be read"),
    ("ZIP", b"PK\x03\x04" + b"\x00" * 60, MASK, "could not be read"),
    ("random bytes", np.random.default_rng(1).bytes(5000), MASK, "could not be read"),
    (
        "truncated JPEG",
        encode(photo_like(400, 300))[:9000],
        encode(box_mask(400, 300, (9, 9, 50, 50)), "PNG"),
        "damaged or truncated",
    ),
    ("truncated PNG", encode(photo_like(400, 300), "PNG")[:9000], MASK, "damaged or truncated"),
    ("20000 x 20000 PNG bomb", _png_with_header(20000, 20000), MASK, "too large"),
    ("65000 x 65000 header", _png_with_header(65000, 65000), MASK, "too large"),
    (
        "1 x 1 image",
        encode(np.zeros((1, 1, 3), np.uint8), "PNG"),
        encode(np.full((1, 1), 255, np.uint8), "PNG"),
        "covers the whole image",
    ),
    (
        "16-bit grey PNG",
        encode(Image.fromarray((np.arange(W * H).reshape(H, W) * 6).astype(np.uint16)), "PNG"),
        MASK,
        "ok",
    ),
    (
        "float TIFF",
        encode(Image.fromarray(np.random.default_rng(2).random((H, W)).astype(np.float32)), "TIFF"),
        MASK,
        "ok",
    ),
    ("CMYK JPEG", encode(Image.fromarray(photo_like(W, H)).convert("CMYK"), "JPEG"), MASK, "ok"),
    ("greyscale JPEG", encode(Image.fromarray(photo_like(W, H)).convert("L"), "JPEG"), MASK, "ok"),
    ("1-bit PNG", encode(Image.fromarray(photo_like(W, H)).convert("1"), "PNG"), MASK, "ok"),
    ("LA PNG", encode(Image.fromarray(photo_like(W, H)).convert("LA"), "PNG"), MASK, "ok"),
    ("palette with transparency", _palette_transparent(), MASK, "ok"),
    ("animated GIF (first frame)", _animated_gif(), MASK, "ok"),
    ("multi-page TIFF (first page)", _multipage_tiff(), MASK, "ok"),
    ("BMP", encode(photo_like(W, H), "BMP"), MASK, "ok"),
    (
        "WebP with alpha",
        encode(Image.fromarray(photo_like(W, H)).convert("RGBA"), "WEBP", lossless=True),
        MASK,
        "ok",
    ),
    ("progressive JPEG", encode(photo_like(W, H), "JPEG", progressive=True), MASK, "ok"),
    ("JPEG with trailing garbage", GOOD + b"\x00garbage" * 50, MASK, "ok"),
    ("EXIF-rotated JPEG (mask on the upright view)", jpeg_with_orientation(photo_like(H, W), 6), MASK, "ok"),
    ("mask of another size, same aspect", GOOD, encode(box_mask(60, 40, (20, 10, 40, 30)), "PNG"), "ok"),
    ("mask of another aspect", GOOD, encode(box_mask(80, 80, (20, 10, 40, 30)), "PNG"), "same aspect ratio"),
    ("all-black mask", GOOD, encode(np.zeros((H, W), np.uint8), "PNG"), "mask is empty"),
    ("all-white mask", GOOD, encode(np.full((H, W), 255, np.uint8), "PNG"), "covers the whole image"),
    ("soft-alpha RGBA mask", GOOD, _soft_alpha_mask(), "ok"),
    ("mask saved as lossy JPEG", GOOD, encode(box_mask(W, H, (40, 20, 80, 60))), "ok"),
    ("1-bit mask", GOOD, encode(Image.fromarray(box_mask(W, H, (40, 20, 80, 60))).convert("1"), "PNG"), "ok"),
    ("non-image mask", GOOD, b"this is not a mask", "mask file could not be read"),
    ("zero-byte mask", GOOD, b"", "mask file is empty"),
    ("mask bomb", GOOD, _png_with_header(20000, 20000, b"\x08\x00"), "mask is too large"),
]

ROWS: list[str] = []


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    svc = Service(fast_settings("http://127.0.0.1:9", api_key=None))
    yield svc
    asyncio.run(svc.aclose())


@pytest.fixture(scope="module", autouse=True)
def _write_table() -> Iterator[None]:
    yield
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text("| input | outcome |\n|---|---|\n" + "\n".join(ROWS) + "\n")


def test_there_are_at_least_thirty_kinds() -> None:
    assert len(KINDS) >= 30


@pytest.mark.parametrize(("name", "image", "mask", "expected"), KINDS, ids=[k[0] for k in KINDS])
def test_bad_input(service: Service, name: str, image: bytes, mask: bytes, expected: str) -> None:
    request = RemoveRequest(engine="local", image=image, mask_file=mask, output_format="png", method="telea")
    try:
        result = asyncio.run(service.remove(request))
    except InputError as error:
        message = str(error)
        ROWS.append(f"| {name} | message: {message} |")
        assert expected != "ok", f"{name}: expected a result, got {message!r}"
        assert expected in message
        assert message.endswith(".") and "Traceback" not in message and len(message) < 300
        return
    out = Image.open(io.BytesIO(result.data))
    ROWS.append(f"| {name} | result: {out.size[0]} x {out.size[1]} {out.format} |")
    assert expected == "ok", f"{name}: expected {expected!r}, got a result"
    upright = Image.open(io.BytesIO(image))
    width, height = upright.size
    rotated = upright.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    assert out.size == ((height, width) if rotated else (width, height))
    pixels = np.asarray(out.convert("RGB"))
    assert pixels.max() > 0, "never a black image"


def test_the_service_keeps_serving_in_bounded_memory(service: Service) -> None:
    """After a round of every bad input, a good request works and memory has not grown much."""
    process = psutil.Process()
    baseline = process.memory_info().rss
    for _ in range(2):
        for _name, image, mask, _expected in KINDS:
            request = RemoveRequest(engine="local", image=image, mask_file=mask, method="telea")
            with contextlib.suppress(InputError):
                asyncio.run(service.remove(request))
    grown_mb = (process.memory_info().rss - baseline) / 2**20
    result = asyncio.run(service.remove(RemoveRequest(engine="local", image=GOOD, mask_file=MASK)))
    assert result.size == (W, H)
    assert grown_mb < 100, f"memory grew {grown_mb:.0f} MB over two rounds of bad inputs"
