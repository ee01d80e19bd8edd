"""A result's bytes: probe and decode what came back, paste it onto the original, encode it to match the
source (JPEG quality and chroma, lossless or not), and previews. ``imaging`` reads and normalises photos."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, JpegImagePlugin

from novita_ui.pixels import formats, imaging, png


def probe_image(data: bytes) -> tuple[str, tuple[int, int]]:
    """Check that bytes are a complete image; return (format, size). Raises ValueError if not.

    For the formats Novita returns, complete means a header Pillow reads and the end of the file where
    the format puts it (JPEG's EOI marker, PNG's IEND chunk, WebP's RIFF length): a cut-off transfer is
    caught without decoding 16 MP (~90 ms), and the pixels are decoded once, by whoever uses them
    (:func:`decode_result` raises on damage there). Other formats are decoded in full.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            fmt, size = image.format or "UNKNOWN", image.size
            if not _ends_whole(fmt, data):
                image.load()
    except Exception as error:  # any decoder failure means the same thing here: unusable bytes
        raise ValueError(f"not a complete image ({type(error).__name__})") from None
    return fmt, size


def _ends_whole(fmt: str, data: bytes) -> bool:
    """Whether data ends as a complete file of this format does; False when unsure (then decode it)."""
    tail = max(0, len(data) - 64)  # a few bytes of padding after the end marker are harmless
    if fmt == "JPEG":
        return data.find(b"\xff\xd9", tail) != -1
    if fmt == "PNG":
        return data.find(b"IEND\xaeB`\x82", tail) != -1
    if fmt == "WEBP":
        return len(data) >= 12 and len(data) >= int.from_bytes(data[4:8], "little") + 8
    return False


def decode_result(data: bytes) -> tuple[imaging.Array, imaging.Array | None]:
    """Decode a result image to RGB (+ alpha, if any)."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as error:  # same as probe_image: one meaning for every decoder failure
        raise ValueError(f"not a complete image ({type(error).__name__})") from None
    return imaging._to_rgb_and_alpha(image)


def changed_area(before: imaging.Array, after: imaging.Array, threshold: int = 24) -> imaging.Array:
    """Where a remote model visibly changed the image (for prompt-only results that come with no mask)."""
    diff = np.abs(before.astype(np.int16) - after.astype(np.int16)).max(axis=2)
    changed = np.where(diff > threshold, 255, 0).astype(np.uint8)
    # Close small gaps and take a margin: a changed object is a region, not scattered pixels.
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    return np.asarray(cv2.dilate(cv2.morphologyEx(changed, cv2.MORPH_CLOSE, kernel), kernel), dtype=np.uint8)


def paste_masked(original: imaging.Array, result: imaging.Array, mask: imaging.Array) -> imaging.Array:
    """The original with only the masked pixels taken from result (result resized to fit if needed)."""
    h, w = original.shape[:2]
    if result.shape[:2] != (h, w):
        result = imaging.resize(result, (w, h))
    out = original.copy()
    where = mask > 0
    out[where] = result[where]
    return out


def encode_output(
    rgb: imaging.Array,
    fmt: imaging.OutputFormat,
    *,
    alpha: imaging.Array | None = None,
    exif: bytes | None = None,
    icc: bytes | None = None,
    quality: int = 95,
    subsampling: str = "4:2:0",
    lossless: bool = False,
) -> bytes:
    """Encode an image in the requested format, keeping alpha, EXIF and ICC where the format allows.

    ``quality`` and ``subsampling`` apply to JPEG and lossy WebP; ``lossless`` to WebP. For a result, use
    :func:`encode_result`, which chooses them to match the source.
    """
    fmt = imaging.checked_format(fmt)
    image = Image.fromarray(rgb)
    if alpha is not None and fmt != "jpeg":
        image = Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")
    elif alpha is not None:
        # JPEG has no alpha: flatten onto white, as image viewers show transparent areas.
        white = np.full_like(rgb, 255)
        weight = (alpha.astype(np.float32) / 255.0)[..., None]
        image = Image.fromarray((rgb * weight + white * (1 - weight) + 0.5).astype(np.uint8))
    options: dict[str, object] = {}
    if exif:
        options["exif"] = exif
    if icc:
        options["icc_profile"] = icc
    if fmt == "jpeg":
        options.update(quality=quality, subsampling=subsampling)
    elif fmt == "png":
        # Level 3 (~same size as 6 on photos, clearly faster), deflated on every core (png.py).
        return png.encode(image, options, level=3)
    elif lossless:
        # method 0: 4x faster than 1 and 2.5x faster than PNG level 3 on a 12 MP photo, ~12 % larger than 1.
        options.update(lossless=True, method=0, quality=0)
    else:
        options.update(quality=quality, method=2)  # method 2: ~3x faster than the default 4, same quality
    buffer = io.BytesIO()
    image.save(buffer, {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}[fmt], **options)
    return buffer.getvalue()


# libjpeg's standard luminance table (quality 50); quality q scales it by 5000/q (q < 50) or 200 - 2q.
_IJG_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17,
    22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78,
    87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
_LOSSLESS_FORMATS = frozenset({"PNG", "BMP", "TIFF", "GIF", "PPM", "TGA"})
_SUBSAMPLING_NAMES = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


def estimate_jpeg_quality(luma_table: Sequence[int]) -> int:
    """The libjpeg quality (1-100) whose luminance table is closest to this one (sums compared: any order)."""
    total = sum(luma_table)

    def scaled_sum(quality: int) -> int:
        scale = 5000 // quality if quality < 50 else 200 - 2 * quality
        return sum(min(255, max(1, (v * scale + 50) // 100)) for v in _IJG_LUMA)

    return min(range(1, 101), key=lambda q: abs(scaled_sum(q) - total))


@dataclass(frozen=True)
class SourceCoding:
    """How the source file was compressed, so that a re-encode can match it."""

    lossless: bool
    jpeg_quality: int | None = None  # estimated from the tables, for JPEG sources
    subsampling: str | None = None  # "4:4:4", "4:2:2" or "4:2:0", for JPEG sources that use one of them


def source_coding(data: bytes) -> SourceCoding:
    """Read (from the header) how a source image was compressed."""
    formats.register_decoders()
    image = Image.open(io.BytesIO(data))
    if image.format in ("JPEG", "MPO"):
        tables = getattr(image, "quantization", None) or {}
        quality = estimate_jpeg_quality(tables[0]) if 0 in tables else None
        if image.mode == "L":
            return SourceCoding(False, quality, None)
        # An unusual sampling (4:4:0, 4:1:1) maps to full chroma: never lose chroma the source had.
        sampling = _SUBSAMPLING_NAMES.get(JpegImagePlugin.get_sampling(image), "4:4:4")
        return SourceCoding(False, quality, sampling)
    if image.format == "WEBP":
        return SourceCoding(b"VP8L" in data[12:4096])  # the lossless bitstream's chunk (also inside VP8X)
    return SourceCoding(image.format in _LOSSLESS_FORMATS)


def encode_result(
    photo: imaging.Photo, rgb: imaging.Array, fmt: imaging.OutputFormat, *, lossless_webp: bool | None = None
) -> bytes:
    """Encode a result to match its source: JPEG tables' quality and chroma sampling, lossless stays lossless.

    JPEG sources keep their estimated quality and sampling; lossless sources become JPEG at quality 95 with
    full chroma (4:4:4), or lossless WebP unless ``lossless_webp`` is False; other sources (lossy WebP) get
    quality 95, 4:2:0. PNG is always lossless.
    """
    coding = source_coding(photo.data)
    quality = coding.jpeg_quality or 95
    subsampling = coding.subsampling or ("4:4:4" if coding.lossless else "4:2:0")
    lossless = coding.lossless if lossless_webp is None else lossless_webp
    return encode_output(
        rgb,
        fmt,
        alpha=photo.alpha,
        exif=photo.exif,
        icc=photo.icc,
        quality=quality,
        subsampling=subsampling,
        lossless=lossless,
    )
