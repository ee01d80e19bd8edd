"""The public API (gradio_client): image files in, the result file out. /erase, /cleanup, /remove_text and
/local; /select answers with a mask file instead (the object inside a box).

No session state: each call carries its image, mask and options, and gets a file back that the scratch
deletes soon after (the client fetches it right away).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import gradio as gr

from novita_ui.errors import InputError, NovitaUIError
from novita_ui.normalise import Engine
from novita_ui.pixels.select import Box
from novita_ui.service import RemoveRequest, output_name
from novita_ui.ui.events.context import EventContext
from novita_ui.ui.events.feedback import refusal, unexpected
from novita_ui.ui.previews import read_optional
from novita_ui.ui.wording import error_title, user_message


class ApiEndpoints:
    """The four named endpoints; each is one removal through :meth:`EventContext.remove`."""

    def __init__(self, context: EventContext) -> None:
        self.context = context

    async def _call(
        self,
        engine: Engine,
        image: str | None,
        mask: str | None,
        options: dict[str, str | None],
        request: gr.Request | None,
    ) -> str:
        prompt, api_key = options.get("prompt"), options.get("api_key")
        try:
            if not image:
                raise InputError("Send an image file (image=handle_file(path)).")
            photo, mask_file = await asyncio.to_thread(_read_uploads, image, mask)
            removal = RemoveRequest.from_raw(
                engine=engine,
                image=photo,
                mask_file=mask_file,
                prompt=prompt,
                output_format=options.get("output_format"),
                api_key=api_key,
            )
            session = (request.session_hash if request else None) or ""
            result = await self.context.remove(removal, session=session, source_name=Path(image).name)
        except NovitaUIError as error:
            own_key = bool((api_key or "").strip())
            message = user_message(error, own_key=own_key, in_page=False)
            raise refusal(message, error_title(error), in_page=False) from None
        except Exception:
            raise unexpected("an API call", in_page=False) from None
        session = "api-" + ((request.session_hash if request else None) or "anonymous")
        name = output_name(Path(image).name, result.format)
        # The client fetches it once, right away: it need not be kept.
        path = self.context.scratch.new_file(session, name, keep=False)
        await asyncio.to_thread(path.write_bytes, result.data)
        warning = await asyncio.to_thread(self.context.save_copy, result, name, Path(image).name, prompt)
        if warning:
            gr.Warning(warning)
        return str(path)

    async def erase(
        self,
        image: str | None,
        mask: str | None,
        prompt: str | None,
        output_format: str | None,
        api_key: str | None,
        request: gr.Request | None,
    ) -> str:
        """Novita image-eraser: image + optional mask (white = remove) and/or prompt -> result file."""
        options = {"prompt": prompt, "output_format": output_format, "api_key": api_key}
        return await self._call("eraser", image, mask, options, request)

    async def cleanup(
        self,
        image: str | None,
        mask: str | None,
        output_format: str | None,
        api_key: str | None,
        request: gr.Request | None,
    ) -> str:
        """Novita cleanup: image + mask (white = remove) -> result file."""
        return await self._call(
            "cleanup", image, mask, {"output_format": output_format, "api_key": api_key}, request
        )

    async def remove_text(
        self, image: str | None, output_format: str | None, api_key: str | None, request: gr.Request | None
    ) -> str:
        """Novita remove-text: image -> result file with its text removed (no mask: Novita finds it)."""
        options = {"output_format": output_format, "api_key": api_key}
        return await self._call("remove-text", image, None, options, request)

    async def local(
        self, image: str | None, mask: str | None, output_format: str | None, request: gr.Request | None
    ) -> str:
        """Offline engine, no key: image + mask (white = remove) -> result file."""
        return await self._call("local", image, mask, {"output_format": output_format}, request)

    async def select(
        self, image: str | None, box: str | None, grow: float | None, request: gr.Request | None
    ) -> str:
        """Offline GrabCut: image + a box around an object -> the object's mask (white) at full size."""
        try:
            if not image:
                raise InputError("Send an image file (image=handle_file(path)).")
            chosen = Box.parse(box or "")
            photo, _ = await asyncio.to_thread(_read_uploads, image, None)
            found = await self.context.service.select(photo, chosen, grow=int(grow or 0))
        except NovitaUIError as error:
            raise refusal(user_message(error, in_page=False), error_title(error), in_page=False) from None
        except Exception:
            raise unexpected("an API call", in_page=False) from None
        session = "api-" + ((request.session_hash if request else None) or "anonymous")
        stem = Path(image).stem or "image"
        path = self.context.scratch.new_file(session, f"{stem}-mask.png", keep=False)
        await asyncio.to_thread(path.write_bytes, found.png)
        return str(path)


def _read_uploads(image: str, mask: str | None) -> tuple[bytes, bytes | None]:
    """The uploaded photo and mask; gone (swept from Gradio's cache) is said as such, not as a crash."""
    try:
        return Path(image).read_bytes(), read_optional(mask)
    except FileNotFoundError:
        raise InputError(
            "Your upload is no longer on the server (it waited longer than uploads are kept). Send it again."
        ) from None
