"""Selecting an object from a box (pixels/select.py) and growing or shrinking a mask, as the CLI, batch, the
service and the public API offer them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from novita_ui.cli import main
from novita_ui.errors import InputError
from novita_ui.pixels import imaging
from novita_ui.pixels.select import Box, select, select_file
from novita_ui.service import RemoveRequest, Service
from novita_ui.ui.options import GROW_LIMIT, Options
from novita_ui.ui.server import gradio_seams
from novita_ui.ui.session import JobSpec
from novita_ui.ui.wiring import build_app, launch_kwargs, queue_kwargs
from tests.app_process import free_port
from tests.conftest import fast_settings
from tests.images import box_mask, encode, jpeg_with_orientation, photo_like
from tests.scenes import SHAPES, box_area, iou, scene


@pytest.mark.parametrize("shape", SHAPES)
def test_the_mask_follows_the_object_not_the_box(shape: str) -> None:
    made = scene(shape, 800, 600)
    mask = select(made.rgb, Box(*made.box))
    assert mask.shape == made.truth.shape and set(np.unique(mask)) == {0, 255}
    assert iou(box_area(mask.shape, made.box), made.truth) < 0.65  # the box alone would be far off
    assert iou(mask, made.truth) >= 0.95


def test_a_stroke_on_the_object_keeps_what_the_box_alone_might_lose() -> None:
    made = scene("figure", 800, 600)
    stroke = np.zeros_like(made.truth)
    stroke[made.truth > 0] = 255  # the user painted the whole figure roughly: the seed wins inside the box
    mask = select(made.rgb, Box(*made.box), seed=stroke)
    assert iou(mask, made.truth) >= 0.97


def test_same_photo_and_box_give_the_same_mask() -> None:
    made = scene("car", 640, 480)
    assert np.array_equal(select(made.rgb, Box(*made.box)), select(made.rgb, Box(*made.box)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10,20,30", "not four numbers"),
        ("a,b,c,d", "not four numbers"),
        ("1,2,inf,4", "not four numbers"),
        ("700,500,900,900", "does not cover an object"),  # outside a 640 x 480 photo
        ("5,5,6,6", "does not cover an object"),  # a click, not a box
        ("-10,-10,700,500", "covers the whole photo"),
    ],
)
def test_bad_boxes_say_what_to_do(text: str, expected: str) -> None:
    made = scene("bin", 640, 480)
    with pytest.raises(InputError, match=expected):
        select(made.rgb, Box.parse(text))


def test_corners_in_any_order_and_the_photo_upright() -> None:
    made = scene("sign", 640, 480)
    x0, y0, x1, y1 = made.box
    assert Box.parse(f"{x1}, {y1}, {x0}, {y0}") == Box(x0, y0, x1, y1)
    # Stored turned, with EXIF saying how to show it: the box is in the upright photo's pixels.
    turned = jpeg_with_orientation(np.ascontiguousarray(np.rot90(made.rgb, -1)), 8)
    found = select_file(turned, Box(x0, y0, x1, y1))
    mask = imaging.load_mask(found.png, (640, 480))
    assert found.size == (640, 480) and iou(mask, made.truth) >= 0.9
    assert 0.01 < found.share < 0.2


def test_grow_and_shrink_by_n_pixels() -> None:
    mask = box_mask(100, 100, (30, 30, 70, 70))
    assert np.count_nonzero(imaging.grow_mask(mask, 5)) > 40 * 40 + 4 * 40 * 4
    shrunk = imaging.grow_mask(mask, -5)
    assert shrunk[35:65, 35:65].all() and not shrunk[30:34].any() and not shrunk[:, 66:].any()
    edge = box_mask(100, 100, (0, 0, 40, 100))  # a mask against the photo's edge shrinks from inside only
    assert imaging.grow_mask(edge, -5)[:, 0].all()


async def test_a_shrink_that_leaves_nothing_is_refused_with_a_reason(service: Service) -> None:
    photo = encode(photo_like(120, 80))
    mask = encode(box_mask(120, 80, (50, 30, 56, 36)), "PNG")  # 6 px wide
    request = RemoveRequest(engine="local", image=photo, mask_file=mask, grow=-4, method="telea")
    with pytest.raises(InputError, match="Shrinking the mask by 4 px left nothing"):
        await service.remove(request)


# ---- the command line and batch ------------------------------------------------------------------------


@pytest.fixture
def scene_file(tmp_path: Path) -> tuple[Path, tuple[int, int, int, int], np.ndarray]:
    made = scene("car", 900, 600)
    path = tmp_path / "street.jpg"
    path.write_bytes(encode(made.rgb, quality=95))
    return path, made.box, made.truth


def test_cli_select_writes_the_objects_mask_at_full_size(
    scene_file: tuple[Path, tuple[int, int, int, int], np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    photo, box, truth = scene_file
    out = tmp_path / "masks" / "street-mask.png"
    assert main(["select", str(photo), "--box", ",".join(map(str, box)), "--output", str(out)]) == 0
    written = Image.open(out)
    assert written.size == (900, 600)
    assert iou(np.asarray(written.convert("L")), truth) >= 0.95
    assert "the object is" in capsys.readouterr().err
    # The mask feeds the removal commands directly; --grow widens it.
    grown = tmp_path / "grown.png"
    corners = ",".join(map(str, box))
    assert main(["select", str(photo), "--box", corners, "--grow", "6", "-o", str(grown)]) == 0
    assert np.count_nonzero(np.asarray(Image.open(grown))) > np.count_nonzero(np.asarray(written))


@pytest.mark.parametrize(
    ("box", "expected"),
    [("1,2,3", "not four numbers"), ("0,0,900,600", "covers the whole photo")],
)
def test_cli_select_bad_box_exits_2_with_one_line(
    scene_file: tuple[Path, tuple[int, int, int, int], np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    box: str,
    expected: str,
) -> None:
    out = tmp_path / "mask.png"
    assert main(["select", str(scene_file[0]), "--box", box, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0] and not out.exists()


def _changed(original: Path, result: Path) -> np.ndarray:
    before = np.asarray(Image.open(original).convert("RGB")).astype(int)
    after = np.asarray(Image.open(result).convert("RGB")).astype(int)
    changed: np.ndarray = np.abs(after - before).max(axis=2) > 0
    return changed


def test_shrink_keeps_the_masks_rim_in_the_cli_and_in_batch(tmp_path: Path) -> None:
    folder, masks = tmp_path / "in", tmp_path / "masks"
    folder.mkdir()
    masks.mkdir()
    photo, mask = folder / "wall.png", masks / "wall.png"
    photo.write_bytes(encode(photo_like(160, 120, seed=3), "PNG"))
    mask.write_bytes(encode(box_mask(160, 120, (40, 30, 120, 90)), "PNG"))
    plain, shrunk = tmp_path / "plain.png", tmp_path / "shrunk.png"
    common = ["local", str(photo), "--mask", str(mask), "--method", "telea"]
    assert main([*common, "-o", str(plain)]) == 0
    assert main([*common, "--shrink", "8", "-o", str(shrunk)]) == 0
    assert main([*common, "--grow", "-8", "-o", str(tmp_path / "negative.png")]) == 0
    assert _changed(photo, plain)[30:38, 40:120].mean() > 0.5  # the rim went with the plain mask
    assert not _changed(photo, shrunk)[30:38, 40:120].any()  # and stayed with the shrunk one
    assert _changed(photo, shrunk)[45:75, 55:105].mean() > 0.5
    assert np.array_equal(_changed(photo, shrunk), _changed(photo, tmp_path / "negative.png"))
    out = tmp_path / "batch-out"
    argv = ["batch", str(folder), "--mask", str(masks), "--engine", "local", "--shrink", "8"]
    assert main([*argv, "--output-dir", str(out)]) == 0
    batched = _changed(photo, next(out.glob("wall*.png")))
    assert not batched[30:38, 40:120].any() and batched[45:75, 55:105].mean() > 0.5


# ---- the service and the public API --------------------------------------------------------------------


async def test_the_service_selects_in_its_workers(service: Service) -> None:
    made = scene("bin", 640, 480)
    found = await service.select(encode(made.rgb, "PNG"), Box(*made.box), grow=-2)
    exact = select(made.rgb, Box(*made.box))
    mask = imaging.load_mask(found.png, (640, 480))
    assert np.array_equal(mask, imaging.grow_mask(exact, -2))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    options = Options(output_dir=tmp_path_factory.mktemp("select-out"))
    demo = build_app(fast_settings("http://127.0.0.1:9", api_key=None), options)
    demo.queue(**queue_kwargs(options))
    port = free_port()
    demo.launch(**launch_kwargs(options, port=port), prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_api_select_returns_the_mask_file(served: str, tmp_path: Path) -> None:
    made = scene("figure", 800, 600)
    photo = tmp_path / "walker.png"
    photo.write_bytes(encode(made.rgb, "PNG"))
    client = Client(served, verbose=False)
    result = client.predict(handle_file(photo), ",".join(map(str, made.box)), 0, api_name="/select")
    assert Path(result).name == "walker-mask.png"
    mask = np.asarray(Image.open(result).convert("L"))
    assert mask.shape == (600, 800) and iou(mask, made.truth) >= 0.95
    with pytest.raises(Exception, match="not four numbers"):
        client.predict(handle_file(photo), "the figure", 0, api_name="/select")


def test_the_pages_grow_slider_shrinks_below_zero_within_its_range() -> None:
    job = {"id": "a", "engine": "Offline", "format": "png", "after": 0}
    assert JobSpec.parse({**job, "grow": -6}).grow == -6
    assert JobSpec.parse({**job, "grow": -500}).grow == -GROW_LIMIT  # a forged value stays in range
    assert JobSpec.parse({**job, "grow": 9}).grow == 9


def test_a_toast_shows_the_status_lines_markdown_as_html() -> None:
    text = gradio_seams.titled("Type it in **Novita API key**, or pick `Offline` (2*3 = 6).", "No key")
    assert text == (
        "<strong>No key.</strong> Type it in <strong>Novita API key</strong>, or pick <code>Offline</code> "
        "(2*3 = 6)."
    )
