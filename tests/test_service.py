"""The shared use case end to end against the fake server: fidelity, limits, engines' requirements."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from novita_ui.errors import InputError
from novita_ui.pixels.imaging import OutputFormat
from novita_ui.service import RemoveRequest, Service, output_name
from tests.conftest import fast_settings
from tests.fake_novita import FILL, FakeNovita, Fault, central_box
from tests.images import box_mask, decode, encode, jpeg_with_orientation, photo_like


async def test_a_photo_within_limits_goes_out_as_itself_and_comes_back_full_size(
    fake: FakeNovita, service: Service
) -> None:
    pixels = photo_like(320, 240)
    data = encode(pixels)
    mask = box_mask(320, 240, (100, 80, 160, 120))
    result = await service.remove(RemoveRequest(engine="eraser", image=data, mask=mask, output_format="png"))
    submit = fake.requests_to("/v3/async/image-eraser")[0]
    assert submit.json["image"] == "data:image/jpeg;base64," + base64.b64encode(data).decode()
    assert submit.extras["mask"].shape == (240, 320)
    fmt, out = decode(result.data)
    original = decode(data)[1]
    assert fmt == "PNG" and result.size == (320, 240) and not result.downscaled
    assert (out[mask == 0] == original[mask == 0]).all()  # untouched pixels are the original's
    assert (out[mask > 0] == FILL).all()
    assert result.task_id == submit.extras["task_id"]


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
async def test_a_result_whose_pixels_are_damaged_is_a_clear_error(
    fake: FakeNovita, service: Service, fmt: OutputFormat
) -> None:
    # Whole header and end marker, scrambled pixels: the download looks complete, the decode fails.
    fake.fail_next("store", Fault.corrupt())
    pixels = photo_like(320, 240)
    request = RemoveRequest(
        engine="eraser", image=encode(pixels), mask=box_mask(320, 240, (100, 80, 160, 120)), output_format=fmt
    )
    with pytest.raises(InputError, match=r"Novita.s result could not be decoded\. Try again\."):
        await service.remove(request)


@pytest.mark.slow  # a 17.3 MP photo
async def test_an_oversized_photo_sent_whole_is_processed_small_and_pasted_back(
    fake: FakeNovita, service: Service
) -> None:
    # 17.3 MP, over Novita's 16 MP. A smooth gradient keeps encoding cheap; the maths is the same.
    ramp = np.linspace(0, 255, 4800, dtype=np.float32)[None, :, None]
    pixels = np.broadcast_to(ramp, (3600, 4800, 3)).astype(np.uint8)
    data = encode(pixels, "PNG", compress_level=1)
    mask = box_mask(4800, 3600, (2000, 1500, 2400, 1800))
    request = RemoveRequest(engine="cleanup", image=data, mask=mask, output_format="png", whole_photo=True)
    result = await service.remove(request)
    sent = fake.requests_to("/v3/cleanup")[0].extras["image_size"]
    assert sent[0] * sent[1] <= 16_000_000 and result.downscaled
    out = decode(result.data)[1]
    original = decode(data)[1]
    assert out.shape == (3600, 4800, 3)
    assert (out[mask == 0] == original[mask == 0]).all()
    inner = out[1520:1780, 2020:2380].reshape(-1, 3).mean(axis=0)
    assert np.abs(inner - FILL).max() < 10


async def test_exif_rotated_photo_mask_lands_where_painted(fake: FakeNovita, service: Service) -> None:
    stored = photo_like(200, 100)  # orientation 6: shown as 100 wide x 200 tall
    data = jpeg_with_orientation(stored, 6)
    mask = box_mask(100, 200, (10, 150, 40, 190))  # painted on the upright view, bottom left
    result = await service.remove(RemoveRequest(engine="eraser", image=data, mask=mask, output_format="jpeg"))
    out = Image.open(io.BytesIO(result.data))
    # Edited in the stored frame: still stored sideways, with the orientation tag that turns it upright.
    assert out.size == (200, 100)
    assert out.getexif().get(0x0112, 1) == 6 and out.getexif()[0x010F] == "TestCam"
    pixels = np.asarray(ImageOps.exif_transpose(out).convert("RGB")).astype(int)
    assert pixels.shape == (200, 100, 3)
    assert np.abs(pixels[170, 25] - FILL).max() < 30  # removed where painted
    assert np.abs(pixels[20, 75] - FILL).max() > 60  # top right untouched


async def test_alpha_is_kept_in_png_and_webp(fake: FakeNovita, service: Service) -> None:
    rgba = np.dstack([photo_like(64, 64), np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))])
    mask = box_mask(64, 64, (20, 20, 40, 40))
    for fmt in ("png", "webp"):
        result = await service.remove(
            RemoveRequest(engine="cleanup", image=encode(rgba, "PNG"), mask=mask, output_format=fmt)
        )
        out = np.asarray(Image.open(io.BytesIO(result.data)))
        assert out.shape == (64, 64, 4)
        assert np.abs(out[..., 3].astype(int) - rgba[..., 3]).max() <= 2


async def test_prompt_only_changes_just_what_the_model_changed(service: Service) -> None:
    data = encode(photo_like(300, 150), "PNG")
    result = await service.remove(
        RemoveRequest(engine="eraser", image=data, prompt="dog", output_format="png")
    )
    out = decode(result.data)[1]
    x0, y0, x1, y1 = central_box(300, 150)
    assert (out[y0 + 5 : y1 - 5, x0 + 5 : x1 - 5] == FILL).all()
    assert (out[:20, :20] == decode(data)[1][:20, :20]).all()


async def test_an_empty_painted_mask_with_a_prompt_uses_the_prompt(
    fake: FakeNovita, service: Service
) -> None:
    data = encode(photo_like(90, 60))
    await service.remove(
        RemoveRequest(engine="eraser", image=data, mask=np.zeros((60, 90), np.uint8), prompt="cat")
    )
    submit = fake.requests_to("/v3/async/image-eraser")[0]
    assert "mask" not in submit.json and submit.json["prompt"] == "cat"


@pytest.mark.parametrize(
    ("request_kwargs", "message"),
    [
        ({"engine": "cleanup"}, "Paint over what should be removed"),
        ({"engine": "eraser"}, "or describe it in the prompt"),
        ({"engine": "local", "prompt": "dog"}, "cannot find objects from a description"),
        ({"engine": "cleanup", "mask": np.zeros((60, 90), np.uint8)}, "mask is empty"),
        ({"engine": "cleanup", "mask": np.full((90, 90), 255, np.uint8)}, "same aspect ratio"),
        ({"engine": "cleanup", "mask_file": b"garbage"}, "mask file could not be read"),
        ({"engine": "cleanup", "image": b"", "mask_file": b"x"}, "empty"),
        ({"engine": "eraser", "prompt": "x", "output_format": "gif"}, "Unknown output format"),
    ],
)
async def test_unusable_requests_are_input_errors_before_any_call(
    fake: FakeNovita, service: Service, request_kwargs: dict[str, object], message: str
) -> None:
    kwargs: dict[str, object] = {"image": encode(photo_like(90, 60))}
    kwargs.update(request_kwargs)
    with pytest.raises(InputError, match=message):
        await service.remove(RemoveRequest(**kwargs))  # type: ignore[arg-type]  # deliberately loose
    assert fake.requests == []


async def test_the_offline_engine_needs_no_key_and_changes_only_the_mask() -> None:
    service = Service(fast_settings("http://127.0.0.1:9", api_key=None))
    pixels = photo_like(200, 150)
    data = encode(pixels, "PNG")
    mask = box_mask(200, 150, (80, 60, 120, 90))
    result = await service.remove(RemoveRequest(engine="local", image=data, mask=mask, output_format="webp"))
    await service.aclose()
    out = Image.open(io.BytesIO(result.data))
    assert out.format == "WEBP" and out.size == (200, 150)
    changed = np.asarray(out.convert("RGB")).astype(int) - pixels
    assert np.abs(changed[mask > 0]).mean() > 1  # something was painted in


async def test_auto_quality_says_which_method_ran_and_jpeg_says_it_flattened() -> None:
    service = Service(fast_settings("http://127.0.0.1:9", api_key=None))
    rgba = np.dstack([photo_like(400, 300), np.full((300, 400), 128, np.uint8)])
    thin = np.zeros((300, 400), np.uint8)
    thin[150:153, 50:350] = 255  # a 3 px line: a stroke
    wide = box_mask(400, 300, (120, 80, 280, 220))  # 160 x 140: an area
    runs = []
    cases: tuple[tuple[np.ndarray, OutputFormat], ...] = ((thin, "jpeg"), (wide, "png"))
    for mask, fmt in cases:
        request = RemoveRequest(
            engine="local", image=encode(rgba, "PNG"), mask=mask, output_format=fmt, method="auto"
        )
        runs.append(await service.remove(request))
    await service.aclose()
    assert [r.method for r in runs] == ["telea", "patchmatch"]
    assert [r.flattened for r in runs] == [True, False]  # JPEG has no alpha; PNG kept it


def test_output_names_keep_the_stem() -> None:
    assert output_name("/photos/holiday.final.JPG", "png") == "holiday.final-cleaned.png"
    assert output_name(None, "jpeg") == "image-cleaned.jpg"


# ---- requests are normalised once, whatever front end built them ------------------------------------------


def test_a_request_from_raw_values_is_normalised_once() -> None:
    request = RemoveRequest.from_raw(
        engine="cleanup",
        image=b"x",
        prompt="  ",
        output_format=" JPG ",
        grow=-3.7,
        api_key=" ",
        enterprise_plan=1,
    )
    # A negative grow is a shrink (whole pixels).
    assert (request.prompt, request.api_key, request.output_format, request.grow) == (None, None, "jpeg", -3)
    assert request.enterprise_plan is True
    eraser = RemoveRequest.from_raw(engine="eraser", image=b"x", prompt=" dog ", enterprise_plan=True)
    assert eraser.prompt == "dog" and eraser.enterprise_plan is False and eraser.output_format == "jpeg"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"engine": "eraser", "output_format": "gif"}, "Unknown output format 'gif'"),
        ({"engine": "magic"}, "Unknown engine 'magic'"),
        ({"engine": "local", "method": "lama"}, "Unknown method 'lama'"),
    ],
)
def test_bad_raw_values_are_input_errors_naming_the_choices(values: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        RemoveRequest.from_raw(image=b"x", **values)


@pytest.mark.parametrize(
    ("engine", "has_mask", "prompt", "problem"),
    [
        ("eraser", False, "dog", None),
        ("eraser", True, None, None),
        ("eraser", False, None, "or describe it in the prompt"),
        ("cleanup", False, "dog", "Paint over what should be removed"),
        ("local", False, "dog", "cannot find objects from a description"),
        ("local", True, "dog", None),
    ],
)
def test_one_rule_for_mask_or_prompt(
    engine: str, has_mask: bool, prompt: str | None, problem: str | None
) -> None:
    from novita_ui.normalise import mask_or_prompt_problem

    found = mask_or_prompt_problem(engine, has_mask, prompt)
    assert found is None if problem is None else problem in (found or "")


def test_the_output_format_follows_the_file_name() -> None:
    from novita_ui.normalise import format_for_path

    assert [format_for_path(n, "png") for n in ("a.JPG", "b.jpeg", "c.webp", "d.tif", "e")] == [
        "jpeg",
        "jpeg",
        "webp",
        "png",
        "png",
    ]
