"""The image pipeline: loading any photo faithfully, masks, limits, outputs."""

from __future__ import annotations

import io
import resource
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from novita_ui.errors import InputError
from novita_ui.pixels import imaging, results
from tests.images import box_mask, decode, encode, jpeg_with_orientation, photo_like

PIXELS = photo_like(40, 30)


# ---- loading ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_common_formats_load_upright_as_rgb(fmt: str) -> None:
    photo = imaging.open_photo(encode(PIXELS, fmt))
    assert photo.size == (40, 30) and photo.rgb.dtype == np.uint8 and photo.rgb.shape == (30, 40, 3)
    assert photo.format == fmt and photo.alpha is None


def test_a_jpeg_within_limits_goes_out_as_its_own_bytes() -> None:
    data = encode(PIXELS)
    payload = imaging.prepare_payload(imaging.open_photo(data), box_mask(40, 30, (5, 5, 9, 9)))
    assert payload.image is data and payload.mime == "image/jpeg" and not payload.downscaled
    assert decode(payload.mask or b"")[1].shape == (30, 40, 3)


def test_exif_orientation_is_applied_and_reset() -> None:
    stored = photo_like(40, 30)  # orientation 6: viewers rotate 90 degrees clockwise -> 30 x 40
    photo = imaging.open_photo(jpeg_with_orientation(stored, 6))
    assert photo.size == (30, 40) and photo.reoriented and not photo.sendable_as_is
    exif = Image.Exif()
    exif.load(photo.exif or b"")
    assert exif.get(0x0112, 1) == 1 and exif[0x010F] == "TestCam"
    np.testing.assert_allclose(
        photo.rgb.astype(int), np.rot90(decode(encode(stored))[1], k=-1).astype(int), atol=40
    )


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (20, 10), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    photo = imaging.open_photo(buffer.getvalue())
    assert tuple(photo.rgb[5, 5]) == (255, 0, 0)


def test_palette_transparency_becomes_alpha() -> None:
    image = Image.new("P", (10, 10), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (0, 0, 5, 10))
    photo = imaging.open_photo(encode(image, "PNG", transparency=1))
    assert photo.alpha is not None and photo.alpha[0, 0] == 0 and photo.alpha[0, 9] == 255


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "CMYK"])
def test_modes_normalise(mode: str) -> None:
    image = Image.fromarray(PIXELS).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    photo = imaging.open_photo(encode(image, fmt))
    assert photo.rgb.shape == (30, 40, 3)
    assert photo.alpha is None  # LA/RGBA converted from opaque pixels: fully opaque -> no alpha kept


def test_sixteen_bit_greys_are_scaled_not_clipped() -> None:
    ramp = (np.linspace(0, 65535, 64 * 8).reshape(8, 64)).astype(np.uint16)
    photo = imaging.open_photo(encode(Image.fromarray(ramp), "PNG"))
    assert photo.rgb[0, 0, 0] == 0 and photo.rgb[-1, -1, 0] == 255
    assert 100 < photo.rgb[4, 32, 0] < 160  # mid-grey stays mid-grey


def test_icc_profile_and_alpha_survive_to_the_output() -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgba = np.dstack([PIXELS, np.full((30, 40), 128, np.uint8)])
    photo = imaging.open_photo(encode(Image.fromarray(rgba), "PNG", icc_profile=icc))
    assert photo.icc == icc and photo.alpha is not None
    for fmt in ("png", "webp"):
        out = Image.open(io.BytesIO(results.encode_output(photo.rgb, fmt, alpha=photo.alpha, icc=photo.icc)))
        assert out.mode == "RGBA" and out.info.get("icc_profile") == icc
        assert np.asarray(out)[..., 3].max() == 128


def test_jpeg_output_flattens_alpha_onto_white() -> None:
    rgb = np.zeros((10, 10, 3), np.uint8)
    alpha = np.zeros((10, 10), np.uint8)
    out = decode(results.encode_output(rgb, "jpeg", alpha=alpha))[1]
    assert out.min() > 245  # transparent black is shown as white, never as a black image


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, I am text", "could not be read as an image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "could not be read as an image"),
        (encode(photo_like(400, 300))[:20000], "damaged or truncated"),
        (encode(PIXELS, "PNG")[:300], "damaged or truncated"),
    ],
)
def test_bad_files_are_input_errors(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        imaging.open_photo(data)


def _png_bomb(width: int, height: int) -> bytes:
    """A valid greyscale PNG of width x height zeros: a few KB on disk, gigabytes when decoded."""
    import struct

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = zlib.compress(b"\x00" * (width + 1) * 256, 9)  # only the first rows: decoding stops early
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_quickly_in_bounded_memory() -> None:
    bomb = _png_bomb(20000, 20000)
    assert len(bomb) < 100_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(InputError, match="too large"):
        imaging.open_photo(bomb)
    assert time.perf_counter() - started < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


# ---- masks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["L", "1", "RGB"])
def test_mask_files_are_binarised(mode: str) -> None:
    mask = box_mask(40, 30, (10, 5, 20, 15))
    mask[0, 0] = 100  # a soft grey below half: keep
    data = encode(Image.fromarray(mask).convert(mode), "PNG")
    loaded = imaging.load_mask(data, (40, 30))
    assert set(np.unique(loaded)) == {0, 255}
    assert loaded[10, 15] == 255 and loaded[0, 0] == 0 and loaded[25, 35] == 0


def test_rgba_mask_uses_alpha_with_soft_edges_cut_at_half() -> None:
    rgba = np.full((30, 40, 4), 255, np.uint8)  # white everywhere: only alpha may decide
    rgba[..., 3] = 0
    rgba[3:17, 8:22, 3] = 40  # a faint feathered halo: kept
    rgba[5:15, 10:20, 3] = 200  # the stroke itself: removed
    loaded = imaging.load_mask(encode(Image.fromarray(rgba), "PNG"), (40, 30))
    assert loaded[10, 15] == 255 and loaded.sum() == 255 * 100


def test_a_mask_of_another_size_but_same_aspect_is_scaled() -> None:
    small = box_mask(20, 15, (5, 5, 10, 10))
    loaded = imaging.load_mask(encode(small, "PNG"), (40, 30))
    assert loaded.shape == (30, 40) and loaded[12, 12] == 255 and loaded[2, 2] == 0


def test_a_mask_of_another_aspect_is_refused() -> None:
    with pytest.raises(InputError, match="same aspect ratio"):
        imaging.load_mask(encode(box_mask(30, 30, (1, 1, 5, 5)), "PNG"), (40, 30))


def test_a_non_image_mask_is_refused() -> None:
    with pytest.raises(InputError, match="mask file could not be read"):
        imaging.load_mask(b"could not be read as an image", (40, 30))


def test_layers_union_every_stroke() -> None:
    first = np.zeros((30, 40, 4), np.uint8)
    second = np.zeros((30, 40, 4), np.uint8)
    first[0:5, 0:5, 3] = 255
    second[20:25, 30:35, 3] = 255
    mask = imaging.mask_from_layers([first, second], (40, 30))
    assert mask[2, 2] == 255 and mask[22, 32] == 255 and mask.sum() == 255 * 50


def test_a_translucent_stroke_is_a_full_mask() -> None:
    """The editor's brush is 50 % opaque: its strokes reach the server with alpha ~128 (64 at a soft edge)."""
    layer = np.zeros((30, 40, 4), np.uint8)
    layer[5:10, 5:10] = (255, 0, 255, 127)
    layer[20:22, 30:32, 3] = 1
    mask = imaging.mask_from_layers([layer], (40, 30))
    assert mask[7, 7] == 255 and mask[21, 31] == 255 and mask.sum() == 255 * 29


def test_preview_layers_map_back_to_full_resolution() -> None:
    layer = np.zeros((75, 100, 4), np.uint8)  # painted on a 100 px wide preview of a 400 px photo
    layer[30:40, 50:60, 3] = 255
    mask = imaging.mask_from_layers([layer], (400, 300))
    assert mask.shape == (300, 400) and mask[140, 220] == 255 and mask[100, 100] == 0


def test_grow_and_empty_masks() -> None:
    mask = box_mask(40, 30, (20, 15, 21, 16))
    assert imaging.grow_mask(mask, 3).sum() > mask.sum() * 20
    with pytest.raises(InputError, match="empty"):
        imaging.require_mask(np.zeros((30, 40), np.uint8))


# ---- limits and results -----------------------------------------------------------------------------


def test_over_the_limit_photos_are_downscaled_keeping_thin_strokes() -> None:
    big = np.zeros((4200, 4200, 3), np.uint8)  # 17.6 MP, solid: cheap to encode
    photo = imaging.open_photo(encode(big, "PNG"))
    mask = np.zeros((4200, 4200), np.uint8)
    mask[2000, :] = 255  # a one-pixel line must survive the shrink
    payload = imaging.prepare_payload(photo, mask)
    w, h = payload.size
    assert (
        payload.downscaled
        and w * h <= imaging.MAX_SEND_PIXELS
        and len(payload.image) <= imaging.MAX_SEND_BYTES
    )
    sent_mask = decode(payload.mask or b"")[1][..., 0]
    assert sent_mask.shape == (h, w) and (sent_mask.max(axis=1) == 255).sum() >= 1


def test_paste_masked_changes_only_masked_pixels() -> None:
    original = photo_like(40, 30)
    result = np.zeros((15, 20, 3), np.uint8)  # smaller: resized to fit
    mask = box_mask(40, 30, (10, 10, 20, 20))
    out = results.paste_masked(original, result, mask)
    assert (out[mask == 0] == original[mask == 0]).all()
    assert (out[mask > 0] == 0).all()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_probe_accepts_whole_results_and_rejects_any_cut(fmt: str) -> None:
    data = encode(photo_like(200, 150), fmt)
    assert results.probe_image(data) == (fmt, (200, 150))
    for cut in (len(data) // 10, len(data) // 2, len(data) * 9 // 10):  # a transfer can stop anywhere
        with pytest.raises(ValueError):
            results.probe_image(data[:cut])


@pytest.mark.parametrize(("fmt", "name"), [("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")])
def test_outputs_are_in_the_requested_format_and_size(fmt: imaging.OutputFormat, name: str) -> None:
    data = results.encode_output(PIXELS, fmt)
    got, pixels = decode(data)
    assert got == name and pixels.shape == PIXELS.shape
