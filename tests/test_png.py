"""The banded PNG writer (novita_ui/pixels/png.py): Pillow's pixels and metadata, in one valid zlib stream.

Its speed is a benchmark figure (``python -m benchmarks.bench_png``), not a test."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from novita_ui.pixels import png, results
from tests.images import photo_like


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of every chunk, checking each CRC on the way."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC on {kind!r}"
        chunks.append((kind, body))
        position += 12 + length
    return chunks


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_a_large_image_is_written_losslessly_as_one_zlib_stream(mode: str) -> None:
    pixels = photo_like(1400, 1000, seed=4)
    rng = np.random.default_rng(5)
    if mode == "RGBA":
        pixels = np.dstack([pixels, rng.integers(0, 256, pixels.shape[:2], dtype=np.uint8)])
    image = Image.fromarray(pixels).convert(mode)
    data = png.encode(image, bands=5)  # odd band heights: the joins fall anywhere
    with Image.open(io.BytesIO(data)) as back:
        assert back.mode == mode and back.size == image.size
        assert np.array_equal(np.asarray(back), np.asarray(image))
    chunks = _chunks(data)
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    stream = b"".join(body for kind, body in chunks if kind == b"IDAT")
    raw = zlib.decompress(stream)  # zlib checks the joined Adler-32 too
    channels = len(mode)
    assert len(raw) == image.height * (image.width * channels + 1)


def test_the_file_is_no_larger_than_pillows_and_keeps_exif_and_icc() -> None:
    image = Image.fromarray(photo_like(1600, 1200, seed=6))
    exif = Image.Exif()
    exif[0x010F] = "Test camera"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    options = {"exif": exif.tobytes(), "icc_profile": icc}
    ours = png.encode(image, options, level=3)
    pillows = io.BytesIO()
    image.save(pillows, "PNG", compress_level=3, **options)
    assert len(ours) <= len(pillows.getvalue()) * 1.02
    with Image.open(io.BytesIO(ours)) as back:
        assert back.info.get("icc_profile") == icc
        assert back.getexif()[0x010F] == "Test camera"
        assert np.array_equal(np.asarray(back), np.asarray(image))


def test_small_images_and_other_modes_are_left_to_pillow() -> None:
    small = Image.fromarray(photo_like(64, 48, seed=7))
    assert png.encode(small) == results.encode_output(np.asarray(small), "png")
    palette = small.convert("P")
    with Image.open(io.BytesIO(png.encode(palette))) as back:
        assert back.mode == "P" and np.array_equal(np.asarray(back), np.asarray(palette))


@pytest.mark.parametrize(
    ("first", "second"),
    [(b"", b"abc"), (b"abc", b""), (b"x" * 70_000, bytes(range(256)) * 300), (b"\xff" * 5, b"\x00" * 65_521)],
)
def test_adler32_of_two_pieces_combines_like_zlibs(first: bytes, second: bytes) -> None:
    combined = png.adler32_combine(zlib.adler32(first), zlib.adler32(second), len(second))
    assert combined == zlib.adler32(first + second)
