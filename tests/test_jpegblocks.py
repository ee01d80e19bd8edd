"""The two block codecs agree: the blocks they read, and the file they write with some blocks replaced."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from novita_ui.pixels import jpegblocks
from tests.images import encode, photo_like

CODECS = [jpegblocks.codec(), jpegblocks.JpeglibCodec()]


@pytest.mark.parametrize(
    "options",
    [{"quality": 85, "subsampling": "4:2:0"}, {"quality": 95, "progressive": True}, {"quality": 90}],
    ids=["q85-420", "progressive", "q90"],
)
def test_both_codecs_read_the_same_blocks_and_replace_only_touched_ones(options: dict[str, object]) -> None:
    data = encode(photo_like(203, 141), "JPEG", **options)  # sides not a multiple of any MCU
    fast, slow = (codec.read(data) for codec in CODECS)
    assert [c.shape for c in fast] == [c.shape for c in slow] and len(fast) == 3
    assert all(np.array_equal(a, b) for a, b in zip(fast, slow, strict=True))
    touched = np.zeros((3, 4), bool)
    touched[1, 1:3] = touched[2, 0] = True
    new = np.full((3, 4, 64), 7, np.int16)
    change = [jpegblocks.Replacement(0, 5, 9, new, touched), jpegblocks.Replacement(2, 2, 1, new, touched)]
    for codec in CODECS:
        written = codec.rewrite(data, change)
        assert Image.open(io.BytesIO(written)).size == (203, 141)
        after = jpegblocks.codec().read(written)
        expected = [c.copy() for c in fast]
        for replacement in change:
            jpegblocks.put(expected[replacement.component], replacement)
        assert all(np.array_equal(a, b) for a, b in zip(after, expected, strict=True)), codec.name
        assert not np.array_equal(after[0], fast[0])  # the replacement landed
