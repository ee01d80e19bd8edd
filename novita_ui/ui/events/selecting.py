"""The select tool's events: a box dragged around an object becomes pink strokes that follow its outline.

The page (``assets/select_page.py``) sends the box in working-canvas pixels with the photo version it was
drawn on, and the stroke layers already painted (read in the browser, like a mask upload's). The object is
found on the original photo at full resolution (``Service.select``: GrabCut on a shrunk crop), then drawn
into ONE stroke layer together with the strokes painted so far: the brush adds to it, the eraser takes parts
off, and Remove reads it like any painted stroke, with every engine.

Undo: the editor's own history starts again when the server sets its value, so each selection keeps the
layer it replaced; the page's Ctrl+Z (and the toolbar's Undo) asks for it back once no stroke is left to undo.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from novita_ui.errors import InputError, NovitaUIError
from novita_ui.pixels import imaging, masks, results
from novita_ui.pixels.select import Box
from novita_ui.ui.events.context import EventContext
from novita_ui.ui.events.feedback import refusal, unexpected
from novita_ui.ui.events.photos import kept_strokes
from novita_ui.ui.session import Photo, SelectionStep, Session
from novita_ui.ui.wording import user_message

Changes = dict[str, Any]
UNDO_DEPTH = 20  # selections a tab can take back, newest first; older ones stay as painted strokes

SELECTED = (
    "The object is selected in pink. Press **Remove** to take it away; the brush adds to the selection, the "
    "eraser takes parts off, Ctrl+Z undoes it."
)


class SelectEvents:
    """Selecting an object from a box, and taking a selection back."""

    def __init__(self, context: EventContext) -> None:
        self.context = context

    async def select_object(
        self, asked: dict[str, Any] | None, strokes: list[str] | None, session: Session
    ) -> Changes:
        """Find the object inside the box the user dragged; show it as strokes with those already painted."""
        photo = session.photo
        if photo is None:
            raise refusal("Add a photo first, then drag a box around what should go.", "No photo yet")
        if not isinstance(asked, dict) or asked.get("photo") != photo.version:
            raise refusal("The photo changed while you drew the box: drag it again.", "Photo changed")
        try:
            box = _to_original(asked.get("box"), photo)
            data = await asyncio.to_thread(photo.original.read_bytes)
            found = await self.context.service.select(data, box)
            kept = kept_strokes(strokes, photo)
            layer, before = await asyncio.to_thread(self._layers, found.png, kept, photo, session.owner)
        except NovitaUIError as error:
            raise refusal(user_message(error), "Nothing selected") from None
        except Exception:
            raise unexpected("selecting an object") from None
        if session.photo is not photo:
            return {}  # another photo arrived meanwhile: this selection belongs to nothing
        steps = session.selections
        steps.append(SelectionStep(photo.version, before))
        del steps[:-UNDO_DEPTH]
        return {"editor": photo.editor_value([str(layer)]), "status": SELECTED}

    def undo_selection(self, session: Session) -> Changes:
        """Take the newest selection back: the strokes as they were before it."""
        photo = session.photo
        steps = session.selections
        while steps and (photo is None or steps[-1].version != photo.version):
            steps.pop()  # made on an earlier photo
        if photo is None or not steps:
            return {}
        step = steps.pop()
        layers = [str(step.before)] if step.before is not None else []
        return {"editor": photo.editor_value(layers), "status": "The selection is undone."}

    def _layers(self, png: bytes, kept: list[str], photo: Photo, owner: str) -> tuple[Path, Path | None]:
        """The new stroke layer (painted strokes + the selection) and the layer it replaces, as files."""
        size = photo.preview_size
        arrays = [np.asarray(Image.open(path).convert("RGBA")) for path in kept]
        painted = masks.painted(arrays, size)
        selected = imaging.resize_mask_down(imaging.load_mask(png, photo.size), size)
        before = self._write(painted, owner, "strokes.png") if painted.any() else None
        return self._write(np.maximum(painted, selected), owner, "selection.png"), before

    def _write(self, mask: imaging.Array, owner: str, name: str) -> Path:
        layer = masks.as_layer(mask)
        path = self.context.scratch.new_file(owner, name)
        path.write_bytes(results.encode_output(layer[..., :3], "png", alpha=layer[..., 3]))
        return path


def _to_original(raw: object, photo: Photo) -> Box:
    """The box the page drew (working-canvas pixels) in the original photo's pixels."""
    if not isinstance(raw, list) or len(raw) != 4:
        raise InputError("Drag a box around the object to select it.")
    (w, h), (pw, ph) = photo.size, photo.preview_size
    x0, y0, x1, y1 = (float(v) for v in raw)
    return Box.parse(f"{x0 * w / pw},{y0 * h / ph},{x1 * w / pw},{y1 * h / ph}")
