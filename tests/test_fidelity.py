"""Only the painted pixels change, in every format: JPEG blocks outside the edit stay bit-identical, other
formats are re-encoded to match the source, and Novita's result goes through one lossy encode at most."""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import jpeglib
import numpy as np
import pytest
from PIL import Image, ImageOps, JpegImagePlugin

from novita_ui.cli import main
from novita_ui.pixels import imaging, jpegblocks, jpegedit, preview, results
from novita_ui.service import Engine, RemoveRequest, RemoveResult, Service
from tests.conftest import fast_settings
from tests.fake_novita import FakeNovita
from tests.images import box_mask, encode, jpeg_with_orientation, photo_like

W, H = 320, 240
# Five removals in different places, as a user does with "keep editing this result".
BOXES = [
    (20, 20, 60, 50),
    (200, 30, 250, 70),
    (100, 150, 140, 200),
    (260, 170, 300, 220),
    (150, 90, 180, 120),
]


@pytest.fixture(params=["libturbojpeg", "jpeglib"])
def codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a block-edit test with each codec: libturbojpeg where installed, jpeglib where it is not."""
    chosen = jpegblocks.codec() if request.param == "libturbojpeg" else jpegblocks.JpeglibCodec()
    assert chosen.name == request.param  # `make test` installs libturbojpeg0: the fast path is the one tested
    monkeypatch.setattr(jpegblocks, "codec", lambda: chosen)
    return str(request.param)


@pytest.fixture
async def offline() -> AsyncIterator[Service]:
    svc = Service(fast_settings("http://127.0.0.1:9", api_key=None))
    yield svc
    await svc.aclose()


def upright(data: bytes) -> np.ndarray:
    """The photo as a viewer shows it (EXIF orientation applied), RGB."""
    return np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")).astype(int)


def near_blocks(masks: list[np.ndarray], block: int, ring: int = 0) -> np.ndarray:
    """Pixels inside any block (block x block, on the file's grid) that a mask touches, plus ``ring`` px."""
    union = np.any(masks, axis=0)
    h, w = union.shape
    padded = np.zeros((-(-h // block) * block, -(-w // block) * block), bool)
    padded[:h, :w] = union
    grid = padded.reshape(padded.shape[0] // block, block, padded.shape[1] // block, block).any(axis=(1, 3))
    area = np.kron(grid, np.ones((block, block), bool))[:h, :w].astype(np.uint8)
    grown = cv2.dilate(area, np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)) if ring else area
    return np.asarray(grown) > 0


async def five_rounds(
    svc: Service, data: bytes, fmt: imaging.OutputFormat = "jpeg"
) -> tuple[bytes, list[np.ndarray], RemoveResult]:
    """Remove five objects one after the other, each round editing the previous result."""
    width, height = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).size
    sideways = (width, height) == (H, W)  # shown upright as H x W: mirror the boxes to fit
    masks = [
        box_mask(width, height, (y0, x0, y1, x1) if sideways else (x0, y0, x1, y1))
        for x0, y0, x1, y1 in BOXES
    ]
    current = data
    for mask in masks:
        request = RemoveRequest(engine="local", image=current, mask=mask, output_format=fmt, method="telea")
        result = await svc.remove(request)
        current = result.data
    return current, masks, result


@pytest.mark.parametrize(
    ("options", "block", "ring"),
    [
        ({"quality": 100, "subsampling": "4:4:4"}, 8, 0),  # high-end cameras
        ({"quality": 85, "subsampling": "4:2:0"}, 16, 1),  # phones; chroma is interpolated 1 px across blocks
        ({"quality": 90, "subsampling": "4:2:2"}, 16, 1),
        ({"quality": 90, "progressive": True}, 16, 1),
        ({"quality": 90, "restart_marker_blocks": 2}, 16, 1),
    ],
    ids=["q100-444", "q85-420", "q90-422", "progressive", "restart-markers"],
)
async def test_jpeg_edits_keep_every_untouched_block_through_five_rounds(
    codec: str, offline: Service, options: dict[str, object], block: int, ring: int
) -> None:
    data = encode(photo_like(W, H), "JPEG", **options)
    out, masks, result = await five_rounds(offline, data)
    assert result.written == "jpeg blocks"
    outside = ~near_blocks(masks, block, ring)
    assert (upright(out)[outside] == upright(data)[outside]).all()  # 0 levels changed, after five rounds
    assert 0.8 <= len(out) / len(data) <= 1.25
    original, edited = Image.open(io.BytesIO(data)), Image.open(io.BytesIO(out))
    assert getattr(edited, "quantization") == getattr(original, "quantization")  # noqa: B009  # JPEG only
    assert JpegImagePlugin.get_sampling(edited) == JpegImagePlugin.get_sampling(original)
    inside = upright(out)[masks[0] > 0] - upright(data)[masks[0] > 0]
    assert np.abs(inside).mean() > 1  # the removal really happened


@pytest.mark.parametrize("subsampling", ["4:2:0", "4:4:4"])
async def test_strokes_far_apart_in_one_removal_change_only_their_own_blocks(
    codec: str, offline: Service, subsampling: str
) -> None:
    data = encode(photo_like(W, H), "JPEG", quality=90, subsampling=subsampling)
    boxes = [(10, 10, 40, 30), (250, 190, 300, 230), (270, 12, 290, 28)]  # two share rows, one far below
    masks = [box_mask(W, H, b) for b in boxes]
    request = RemoveRequest(engine="local", image=data, mask=np.maximum.reduce(masks), method="telea")
    result = await offline.remove(request)
    assert result.written == "jpeg blocks"
    outside = ~near_blocks(masks, 16, 1)
    assert (upright(result.data)[outside] == upright(data)[outside]).all()
    for mask in masks:  # every stroke was removed, not only the first piece
        assert np.abs(upright(result.data)[mask > 0] - upright(data)[mask > 0]).mean() > 1


def coefficients(data: bytes, tmp_path: Path) -> jpeglib.DCTJPEG:
    path = tmp_path / "c.jpg"
    path.write_bytes(data)
    jpeg = jpeglib.read_dct(str(path))
    jpeg.load()
    return jpeg


async def test_untouched_blocks_are_bit_identical_coefficients(
    codec: str, offline: Service, tmp_path: Path
) -> None:
    data = encode(photo_like(W, H), "JPEG", quality=100, subsampling="4:4:4")
    mask = box_mask(W, H, (100, 100, 120, 116))  # blocks x 12..14, y 12..14 (8 px blocks)
    result = await offline.remove(RemoveRequest(engine="local", image=data, mask=mask, method="telea"))
    before, after = coefficients(data, tmp_path), coefficients(result.data, tmp_path)
    touched = np.zeros(before.Y.shape[:2], bool)
    touched[12:15, 12:15] = True
    for name in ("Y", "Cb", "Cr"):
        old, new = getattr(before, name), getattr(after, name)
        assert (old[~touched] == new[~touched]).all()
        assert not (old[touched] == new[touched]).all()


async def test_exif_rotated_jpeg_is_edited_in_its_stored_frame(codec: str, offline: Service) -> None:
    stored = photo_like(W, H)  # orientation 6: shown as 240 wide x 320 tall
    data = jpeg_with_orientation(stored, 6)
    out, masks, result = await five_rounds(offline, data)
    assert result.written == "jpeg blocks"
    image = Image.open(io.BytesIO(out))
    assert image.size == (W, H) and image.getexif()[0x0112] == 6 and image.getexif()[0x010F] == "TestCam"
    shown = upright(out)
    assert shown.shape == (W, H, 3)
    outside = ~near_blocks(masks, 16, 1)  # the blocks, seen upright (16 divides both sides)
    assert (shown[outside] == upright(data)[outside]).all()
    assert np.abs(shown[masks[0] > 0] - upright(data)[masks[0] > 0]).mean() > 1  # removed where painted


async def test_greyscale_jpeg_stays_greyscale_and_untouched_outside(codec: str, offline: Service) -> None:
    data = encode(photo_like(W, H)[..., 1], "JPEG", quality=90)
    out, masks, result = await five_rounds(offline, data)
    assert result.written == "jpeg blocks" and Image.open(io.BytesIO(out)).mode == "L"
    outside = ~near_blocks(masks, 8)
    assert (upright(out)[outside] == upright(data)[outside]).all()


def cmyk_jpeg() -> bytes:
    return encode(Image.fromarray(photo_like(W, H)).convert("CMYK"), "JPEG", quality=90)


def jpeg_440(tmp_path: Path) -> bytes:
    jpeg = jpeglib.from_spatial(photo_like(W, H))
    jpeg.samp_factor = ((2, 1), (1, 1), (1, 1))  # jpeglib's rows are (v, h): luma 1 x 2 = 4:4:0
    path = tmp_path / "440.jpg"
    jpeg.write_spatial(str(path), qt=90)
    return path.read_bytes()


def rgb_coded_jpeg() -> bytes:
    """A JPEG whose components are R, G, B (Adobe transform 0), not YCbCr: scanners write it."""
    data = encode(photo_like(W, H), "JPEG", quality=90)
    assert data[2:4] == b"\xff\xe0"  # Pillow's JFIF segment: replace it by an Adobe one saying "no transform"
    jfif_end = 4 + int.from_bytes(data[4:6], "big")
    adobe = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"
    return data[:2] + adobe + data[jfif_end:]


@pytest.mark.parametrize(("kind", "reason"), [("cmyk", "CMYK"), ("4:4:0", "sampling"), ("rgb", "RGB-coded")])
async def test_jpegs_the_block_path_cannot_take_are_re_encoded_with_a_logged_reason(
    offline: Service, kind: str, reason: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = {"cmyk": cmyk_jpeg, "rgb": rgb_coded_jpeg}.get(kind, lambda: jpeg_440(tmp_path))()
    mask = box_mask(W, H, BOXES[0])
    with caplog.at_level(logging.INFO, logger="novita_ui.service"):
        result = await offline.remove(RemoveRequest(engine="local", image=data, mask=mask, method="telea"))
    exact = await offline.remove(
        RemoveRequest(engine="local", image=data, mask=mask, method="telea", output_format="png")
    )
    assert result.written == "re-encoded"
    assert any(reason in r.getMessage() for r in caplog.records)
    inside = np.abs(upright(result.data)[mask > 0] - upright(exact.data)[mask > 0])
    assert inside.mean() < 6  # the engine's colours, not blocks read as RGB
    out = Image.open(io.BytesIO(result.data))
    assert out.format == "JPEG" and out.size == (W, H)
    keeps = 2 if kind == "rgb" else 0  # the source's 4:2:0; 4:4:4 for what Pillow cannot write
    assert JpegImagePlugin.get_sampling(out) == keeps  # no chroma the source had is thrown away
    far = ~near_blocks([mask], 16, 16)
    change = np.abs(upright(result.data)[far] - upright(data)[far])
    assert change.max() > 0 and change.mean() < 6  # close, but a re-encode


def exif_with_thumbnail() -> bytes:
    """EXIF (big-endian TIFF) with Make in IFD0 and a JPEG thumbnail in IFD1, as cameras write it."""
    thumbnail = encode(photo_like(16, 12), "JPEG")
    make = b"TestCam\x00"
    ifd0_at, ifd1_at = 8, 8 + 2 + 12 + 4
    make_at = ifd1_at + 2 + 2 * 12 + 4
    thumb_at = make_at + len(make)
    ifd0 = (
        struct.pack(">H", 1)
        + struct.pack(">HHII", 0x010F, 2, len(make), make_at)
        + struct.pack(">I", ifd1_at)
    )
    ifd1 = (
        struct.pack(">H", 2)
        + struct.pack(">HHII", 0x0201, 4, 1, thumb_at)
        + struct.pack(">HHII", 0x0202, 4, 1, len(thumbnail))
        + struct.pack(">I", 0)
    )
    assert len(ifd0) == ifd1_at - ifd0_at
    return b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", ifd0_at) + ifd0 + ifd1 + make + thumbnail


async def test_metadata_is_kept_and_the_stale_thumbnail_dropped(codec: str, offline: Service) -> None:
    icc = b"\x00\x00\x02\x0cfake-icc-profile" * 20
    data = encode(
        photo_like(W, H), "JPEG", quality=90, exif=exif_with_thumbnail(), icc_profile=icc, comment=b"hi"
    )
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(-1)  # the source has a thumbnail
    mask = box_mask(W, H, BOXES[0])
    result = await offline.remove(RemoveRequest(engine="local", image=data, mask=mask, method="telea"))
    assert result.written == "jpeg blocks"
    out = Image.open(io.BytesIO(result.data))
    assert out.info.get("icc_profile") == icc and out.info.get("comment") == b"hi"
    assert out.getexif()[0x010F] == "TestCam"
    assert not out.getexif().get_ifd(-1)  # no thumbnail showing the removed object


@pytest.mark.parametrize(
    ("source", "fmt", "exact"),
    [
        ("png", "png", True),
        ("rgba-png", "png", True),
        ("png", "webp", True),  # lossless in, lossless WebP out
        ("rgba-png", "webp", True),
        ("lossless-webp", "webp", True),
        ("jpeg", "png", True),
        ("lossy-webp", "webp", False),
        ("png", "jpeg", False),
    ],
)
async def test_other_formats_are_re_encoded_to_match_the_source(
    offline: Service, source: str, fmt: imaging.OutputFormat, exact: bool
) -> None:
    pixels = photo_like(W, H)
    data = {
        "png": lambda: encode(pixels, "PNG"),
        "rgba-png": lambda: encode(np.dstack([pixels, np.full((H, W), 200, np.uint8)]), "PNG"),
        "lossless-webp": lambda: encode(pixels, "WEBP", lossless=True),
        "lossy-webp": lambda: encode(pixels, "WEBP", quality=80),
        "jpeg": lambda: encode(pixels, "JPEG", quality=90),
    }[source]()
    mask = box_mask(W, H, BOXES[0])
    result = await offline.remove(RemoveRequest(engine="local", image=data, mask=mask, output_format=fmt))
    assert result.written == "re-encoded"
    out = Image.open(io.BytesIO(result.data))
    outside = mask == 0
    change = np.abs(upright(result.data)[outside] - upright(data)[outside])
    assert (change.max() == 0) if exact else (change.max() > 0 and change.mean() < 6)
    if source == "rgba-png":
        assert out.mode == "RGBA" and (np.asarray(out)[..., 3] == 200).all()
    if fmt == "jpeg":
        assert JpegImagePlugin.get_sampling(out) == 0  # a lossless source keeps full chroma


async def test_webp_from_a_lossless_source_can_be_asked_lossy(offline: Service) -> None:
    data = encode(photo_like(W, H), "PNG")
    mask = box_mask(W, H, BOXES[0])
    request = RemoveRequest(engine="local", image=data, mask=mask, output_format="webp", lossless_webp=False)
    result = await offline.remove(request)
    assert results.source_coding(result.data) == results.SourceCoding(lossless=False)


def test_jpeg_quality_is_estimated_from_the_tables() -> None:
    for quality in (50, 75, 85, 90, 95, 100):
        data = encode(photo_like(32, 32), "JPEG", quality=quality)
        assert results.source_coding(data).jpeg_quality == quality


async def test_a_jpeg_re_encode_matches_the_source_quality_and_sampling(
    offline: Service, tmp_path: Path
) -> None:
    data = encode(photo_like(W, H), "JPEG", quality=80, subsampling="4:4:4")
    result = await offline.remove(
        RemoveRequest(engine="local", image=data, mask=box_mask(W, H, BOXES[0]), output_format="webp")
    )
    lossy_webp = len(result.data)
    high = encode(photo_like(W, H), "WEBP", quality=95, method=2)
    assert lossy_webp < len(high)  # quality 80 like the source, not a fixed 95


@pytest.mark.parametrize("engine", ["eraser", "cleanup"])
async def test_novita_is_asked_for_png_so_the_removed_area_is_encoded_once(
    fake: FakeNovita, service: Service, engine: Engine
) -> None:
    data = encode(photo_like(W, H), "JPEG", quality=90)
    mask = box_mask(W, H, BOXES[0])
    result = await service.remove(RemoveRequest(engine=engine, image=data, mask=mask, output_format="jpeg"))
    submits = [r for r in fake.requests if r.extras.get("output_format")]
    assert submits and submits[-1].extras["output_format"] == "png"
    assert result.written == "jpeg blocks"
    outside = ~near_blocks([mask], 16, 1)  # 4:2:0: chroma blocks cover 16 px
    assert (upright(result.data)[outside] == upright(data)[outside]).all()


def test_a_sideways_result_previews_upright(tmp_path: Path) -> None:
    # A block-edited JPEG keeps its EXIF orientation (its pixels stay sideways): the page's preview of it,
    # made from the upright pixels the worker holds, shows it upright.
    photo = imaging.open_photo(jpeg_with_orientation(photo_like(W, H), 6))
    made = preview.of_result(photo, photo.rgb, (120, 160), "jpeg")
    with Image.open(io.BytesIO(made.data)) as small:
        assert small.size == (120, 160) and made.format == "jpeg"
        upright = np.asarray(Image.fromarray(photo.rgb).resize((120, 160)), dtype=np.int16)
        assert np.abs(np.asarray(small.convert("RGB"), dtype=np.int16) - upright).mean() < 6


@pytest.mark.parametrize("kind", ["q100-444", "exif-6", "cmyk"])
def test_the_cli_keeps_untouched_jpeg_blocks(tmp_path: Path, kind: str) -> None:
    pixels = photo_like(W, H)
    data = {
        "q100-444": lambda: encode(pixels, "JPEG", quality=100, subsampling="4:4:4"),
        "exif-6": lambda: jpeg_with_orientation(pixels, 6),
        "cmyk": cmyk_jpeg,
    }[kind]()
    width, height = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).size
    mask = box_mask(width, height, (40, 40, 80, 80))
    (tmp_path / "in.jpg").write_bytes(data)
    (tmp_path / "mask.png").write_bytes(encode(mask, "PNG"))
    out = tmp_path / "out.jpg"
    code = main(["local", str(tmp_path / "in.jpg"), "--mask", str(tmp_path / "mask.png"), "-o", str(out)])
    assert code == 0
    change = np.abs(upright(out.read_bytes()) - upright(data))[~near_blocks([mask], 16, 1)]
    if kind == "cmyk":
        assert change.max() > 0 and change.mean() < 6  # re-encoded (no block path for CMYK), still close
    else:
        assert change.max() == 0
        assert Image.open(out).getexif().get(0x0112, 1) == (6 if kind == "exif-6" else 1)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_box_maps_to_the_stored_frame_like_its_pixels(orientation: int) -> None:
    upright_mask = box_mask(W, H, (30, 50, 90, 70))
    stored = np.asarray(jpegedit._to_stored(upright_mask, orientation))
    ys, xs = np.nonzero(stored)
    expected = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    assert jpegedit._box_to_stored((30, 50, 90, 70), orientation, (W, H)) == expected


@pytest.mark.parametrize(("flag", "lossless"), [([], True), (["--lossy-webp"], False)])
def test_the_cli_keeps_a_lossless_source_lossless_in_webp_unless_asked(
    tmp_path: Path, flag: list[str], lossless: bool
) -> None:
    (tmp_path / "in.png").write_bytes(encode(photo_like(W, H), "PNG"))
    (tmp_path / "mask.png").write_bytes(encode(box_mask(W, H, BOXES[0]), "PNG"))
    out = tmp_path / "out.webp"
    argv = ["local", str(tmp_path / "in.png"), "--mask", str(tmp_path / "mask.png"), "-o", str(out), *flag]
    assert main(argv) == 0
    assert results.source_coding(out.read_bytes()).lossless is lossless
