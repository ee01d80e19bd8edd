""" "Remove all text" in a real Chromium: one click, no painting, only the text changes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tests.browser.helpers import (
    click_remove,
    download,
    drop_file,
    shot,
    status_text,
    wait_app_ready,
    wait_editor_ready,
    wait_result,
)
from tests.fake_novita import FILL, TEXT_INK
from tests.images import encode, photo_like


def test_remove_all_text_takes_one_click_and_changes_only_the_text(keyed_app, fake_novita, page, tmp_path):
    pixels = photo_like(800, 600, seed=4)
    pixels[..., 1] = np.maximum(pixels[..., 1], 100)  # nothing near the fake's ink but the caption
    pixels[480:520, 100:700] = TEXT_INK  # a caption bar across the bottom
    photo = tmp_path / "poster.png"
    photo.write_bytes(encode(pixels, "PNG"))
    page.goto(keyed_app.url)
    wait_app_ready(page)
    drop_file(page, photo)
    wait_editor_ready(page)
    page.click('#format input[value="png"]')
    shot(page, "remove-text-before")
    click_remove(page, "#remove-text")  # nothing painted: Novita finds the text
    result = wait_result(page)
    shot(page, "remove-text-result", full_page=True)
    assert result["engine"] == "remove-text" and result["size"] == [800, 600]
    assert "Novita Remove text" in status_text(page)
    name, data = download(page)
    after = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert name == "poster-cleaned.png"
    assert np.abs(after[484:516, 104:696].astype(int) - np.array(FILL)).max() < 40  # the caption is gone
    assert np.array_equal(after[:440], pixels[:440])  # far from it, the original's pixels exactly
    (sent,) = fake_novita.requests_to("/v3/remove-text")
    assert sent.extras["image_size"] == (800, 600)
