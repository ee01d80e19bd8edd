"""The editor's server side: the translucent brush Gradio is given, history rounds and names, Offline quality.

The browser half of the contract with Gradio (toolbar labels, the size popup, Alt+wheel zoom, the slider's
images) is ``tests/browser/test_editor.py::test_the_gradio_pieces_the_page_script_drives``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pytest

from novita_ui.errors import InputError
from novita_ui.pixels import local
from novita_ui.ui import editor
from novita_ui.ui.outcome import Outcome, next_round, unique_name
from novita_ui.ui.texts import quality_of


def test_gradio_takes_the_translucent_brush_as_colour_and_opacity() -> None:
    """Gradio's editor must receive the colour with its opacity, or the mask hides the photo again."""
    config = gr.ImageEditor(brush=editor.brush(), eraser=editor.eraser()).get_config()
    brush = config["brush"]
    assert brush["colors"] == [(editor.MASK_COLOUR, editor.MASK_OPACITY)]
    assert brush["default_color"] == (editor.MASK_COLOUR, editor.MASK_OPACITY)
    assert brush["default_size"] == editor.BRUSH_RADIUS and brush["color_mode"] == "fixed"
    assert 0.3 <= editor.MASK_OPACITY <= 0.7


def _outcome(name: str, round_: int) -> Outcome:
    return Outcome(
        file=Path("/x") / name, before=Path("b"), after=Path("a"), source_name="photo.jpg", size=(4, 3),
        engine="local", output_format="jpeg", task_id=None, downscaled=False, seconds=1.0,
        round=round_, finished="12:00:0" + str(round_), method="telea",
    )  # fmt: skip


def test_history_numbers_rounds_and_keeps_download_names_apart() -> None:
    history: list[Outcome] = []
    names = []
    for _ in range(3):
        name = unique_name("photo-cleaned.jpg", history)
        history.insert(0, _outcome(name, next_round(history)))
        names.append(name)
    assert names == ["photo-cleaned.jpg", "photo-cleaned-2.jpg", "photo-cleaned-3.jpg"]
    captions = [item.caption() for item in history]
    assert captions[0] == "#3 · 12:00:03 · Offline (Fast) · photo-cleaned-3.jpg"
    assert len(set(captions)) == 3
    assert unique_name("photo-cleaned.png", history) == "photo-cleaned.png"  # another format: no clash


def test_quality_labels_map_to_methods() -> None:
    assert [quality_of(label) for label in ("Auto", "Fast", "Texture", None)] == [
        "auto",
        "telea",
        "patchmatch",
        "auto",
    ]
    with pytest.raises(InputError, match="Unknown quality"):
        quality_of("Best")


def test_auto_quality_is_fast_for_thin_strokes_and_texture_for_wide_areas() -> None:
    thin = np.zeros((1200, 1600), np.uint8)
    cv2.line(thin, (100, 100), (1500, 900), 255, 16)
    wide = np.zeros((1200, 1600), np.uint8)
    cv2.ellipse(wide, (800, 600), (100, 80), 0, 0, 360, 255, -1)
    assert local.choose_method(thin) == "telea"
    assert local.choose_method(wide) == "patchmatch"
    # Scale-free: the same drawing on a photo four times larger picks the same method.
    assert local.choose_method(cv2.resize(thin, (6400, 4800), interpolation=cv2.INTER_NEAREST)) == "telea"
    assert local.choose_method(np.zeros((10, 10), np.uint8)) == local.DEFAULT_METHOD
