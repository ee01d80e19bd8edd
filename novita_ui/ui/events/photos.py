"""Events that change which photo and which uploaded mask a tab has (see ``session.py``).

Each returns the page's changes by name ({"editor": ..., "status": ...}); ``wiring.py`` maps the names to
components. The editor is only ever written, never read, here.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import gradio as gr

from novita_ui.errors import NovitaUIError
from novita_ui.pixels import imaging, masks, results
from novita_ui.runtime.budget import estimate
from novita_ui.ui.events.context import EventContext
from novita_ui.ui.events.feedback import download_button, refusal, result_slider, unexpected
from novita_ui.ui.previews import canvas_size, image_size, make_preview
from novita_ui.ui.session import Photo, Session
from novita_ui.ui.texts import NO_PHOTO, REMOVE_LABEL
from novita_ui.ui.wording import user_message

Changes = dict[str, Any]


class PhotoEvents:
    """Loading a photo, keeping a result, attaching or clearing a mask, the editor's bin."""

    def __init__(self, context: EventContext) -> None:
        self.context = context

    def _load(self, path: str, owner: str) -> Photo:
        data = Path(path).read_bytes()
        photo = imaging.open_photo(data)
        size = canvas_size(photo.size, self.context.options.preview_max_side)
        kind = "png" if photo.alpha is not None else "jpg"
        preview = self.context.scratch.new_file(owner, "canvas." + kind)
        preview.write_bytes(make_preview(photo, size))
        original = self.context.scratch.new_file(owner, Path(path).name)
        try:
            os.link(path, original)  # the upload is already on this disk: no copy needed
        except OSError:
            original.write_bytes(data)
        name = Path(path).name
        return Photo(original=original, name=name, size=photo.size, preview=preview, preview_size=size)

    def _show(self, session: Session, status: str) -> Changes:
        """The page's changes for the session's (new) photo."""
        shown = session.photo
        assert shown is not None  # just set
        changes = {
            "editor": shown.editor_value(),
            "status": status,
            "photo_info": session.info(),
            "remove": gr.update(value=REMOVE_LABEL, interactive=True),
        }
        # A mask carried over keeps its file in the box; else the box empties (emptying it clears a mask).
        return changes if session.mask is not None else {**changes, "mask_upload": None}

    async def _carry_mask(self, session: Session, mask: imaging.Array, name: str) -> str:
        """The last photo's uploaded mask on the new photo: rescaled when the shapes match, else dropped."""
        photo = session.photo
        assert photo is not None  # just shown
        fitted = await asyncio.to_thread(masks.rescaled, mask, photo.size)
        if fitted is None:
            return f"The uploaded mask {name} belonged to a photo of another shape, so it was dropped."
        canvas = await asyncio.to_thread(self._draw, fitted, photo, session.owner)
        if session.photo is not photo:
            return ""  # another photo arrived meanwhile: the mask stays dropped
        session.attach_mask(fitted, name, canvas)
        (mw, mh), (w, h) = (mask.shape[1], mask.shape[0]), photo.size
        if (mw, mh) == (w, h):
            return f"The uploaded mask {name} is kept (drawn in pink): this photo has the same size."
        return (
            f"The uploaded mask {name} was rescaled from {mw} × {mh} to {w} × {h} px to fit this photo "
            "(drawn in pink): check that it covers the right area, or press **Clear the mask**."
        )

    async def load_photo(
        self, path: str | None, session: Session, request: gr.Request, act: float | None = None
    ) -> Changes:
        """A photo arrived: keep the original, put its preview in the editor (mask cleared)."""
        if not path:
            raise refusal(NO_PHOTO, "No photo")
        session.owner = request.session_hash or "anonymous"
        claimed = session.claim(act, photo=True)
        if claimed is None:
            return {}  # a photo dropped later is already in the editor
        try:
            # Loading decodes the photo for its preview: it takes its turn in the memory budget too.
            pixels = await asyncio.to_thread(_photo_pixels, path)
            async with self.context.service.memory.admit(estimate(pixels, "remote")):
                photo = await asyncio.to_thread(self._load, path, session.owner)
        except NovitaUIError as error:
            raise refusal(user_message(error), "Cannot open this file") from None
        except Exception:
            raise unexpected("loading a photo") from None
        if not session.still_latest(claimed, photo=True):
            return {}  # a photo dropped later was loaded first: it stays
        w, h = photo.size
        status = (
            f"**{photo.name}** ({w} × {h} px) is ready. Paint over what should go, then press **Remove**."
        )
        had = session.show(photo)
        if had is not None:
            status += " " + await self._carry_mask(session, *had)
        return self._show(session, status)

    def keep_editing(self, session: Session, act: float | None = None) -> Changes:
        """The last result becomes the photo being edited (mask cleared); results keep the original name."""
        if session.claim(act, photo=True) is None:
            return {}
        current = session.current
        if current is None:
            raise refusal("There is no result to keep editing yet. Press Remove first.", "No result yet")
        photo = Photo(
            original=current.file,
            name=current.source_name,
            size=current.size,
            preview=current.after,
            preview_size=image_size(str(current.after)),
        )
        status = (
            f"Editing the result further ({current.file.name}). Paint the next area, then press **Remove**."
        )
        if session.show(photo) is not None:
            status += " The uploaded mask was cleared with it."
        return self._show(session, status)

    async def attach_mask(
        self, path: str | None, strokes: list[str] | None, session: Session, act: float | None = None
    ) -> Changes:
        """An uploaded mask file: owned by the session, drawn in pink on the photo, next to the strokes
        already painted (``strokes``: the editor's layers, forwarded by the page) which stay as they were."""
        if not path:
            return self.clear_mask(session, act)
        claimed = session.claim(act)
        if claimed is None:
            return {}  # Clear, another mask or another photo came later: they win
        photo = session.photo
        if photo is None:
            raise refusal("Add a photo first, then upload its mask.", "No photo yet")
        try:
            mask = await asyncio.to_thread(_read_mask, path, photo.size)
            canvas = await asyncio.to_thread(self._draw, mask, photo, session.owner)
        except NovitaUIError as error:
            raise refusal(user_message(error), "Cannot use this mask") from None
        except Exception:
            raise unexpected("reading a mask") from None
        if not session.still_latest(claimed) or session.photo is not photo:
            return {}  # pressed Clear, or dropped a photo, while the mask was read: that action wins
        shown = session.attach_mask(mask, Path(path).name, canvas)
        return {
            "editor": shown.editor_value(kept_strokes(strokes, shown)),
            "photo_info": session.info(),
            "status": "The uploaded mask is drawn in pink on the photo, with what you painted. Paint more "
            "if needed, then press **Remove**.",
        }

    def _draw(self, mask: imaging.Array, photo: Photo, owner: str) -> Path:
        """The canvas that shows ``mask`` (at the photo's size) in pink on the photo's preview."""
        preview = imaging.open_photo(photo.preview.read_bytes())
        canvas = self.context.scratch.new_file(owner, "canvas-mask.png")
        drawn = masks.overlay(preview.rgb, imaging.fit_mask(mask, photo.preview_size))
        canvas.write_bytes(results.encode_output(drawn, "png"))
        return canvas

    def clear_mask(self, session: Session, act: float | None = None) -> Changes:
        """Remove every stroke and the uploaded mask, keep the photo (the toolbar's bin removes the photo)."""
        if session.claim(act) is None:
            return {}
        photo = session.clear_mask()
        if photo is None:
            return {"mask_upload": None}
        return {"editor": photo.editor_value(), "photo_info": session.info(), "mask_upload": None}

    def mask_removed(self, strokes: list[str] | None, session: Session, act: float | None = None) -> Changes:
        """The mask file's own clear button (it also fires when the page empties the file box): the
        uploaded mask goes, the painted strokes stay."""
        if session.claim(act) is None or session.mask is None:
            return {}
        photo = session.clear_mask()
        if photo is None:
            return {}
        return {"editor": photo.editor_value(kept_strokes(strokes, photo)), "photo_info": session.info()}

    def photo_removed(self, session: Session, act: float | None = None) -> Changes:
        """The editor's bin took the photo away: say so, and Remove waits for the next photo."""
        if session.claim(act, photo=True) is None:
            return {}
        session.forget_photo()
        return {
            "status": f"The editor is empty. {NO_PHOTO}",
            "photo_info": "",
            "remove": gr.update(value=REMOVE_LABEL, interactive=False),
            "mask_upload": None,
        }

    def show_history(self, session: Session, event: gr.SelectData) -> Changes:
        """Clicking a history item shows it in the slider and offers its download again."""
        index = event.index if isinstance(event.index, int) else 0
        if not 0 <= index < len(session.history):
            return {}
        chosen = session.history[index]
        session.current = chosen
        return {"slider": result_slider(chosen), "download": download_button(chosen)}


def _photo_pixels(path: str) -> int:
    """The photo's pixel count from its header (nothing decoded)."""
    return imaging.image_pixels(Path(path).read_bytes())


def kept_strokes(strokes: list[str] | None, photo: Photo) -> list[str]:
    """The stroke layers the page forwarded that belong on ``photo``'s canvas (same size), in order."""
    kept = []
    for path in strokes or []:
        try:
            if image_size(path) == photo.preview_size:
                kept.append(path)
        except (OSError, ValueError):
            continue  # not an image: nothing of the user's to keep
    return kept


def _read_mask(path: str, size: tuple[int, int]) -> imaging.Array:
    """A mask file, fitted to the photo's size (white or opaque = remove)."""
    return imaging.load_mask(Path(path).read_bytes(), size)
