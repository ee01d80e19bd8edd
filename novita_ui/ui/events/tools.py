"""The public endpoints, /erase, /cleanup, /remove_text, /local and /select, as scripts and agents call them.

``wiring._wire_api`` wires these functions (not :class:`App`'s methods) to the named events, because Gradio
reads them twice: ``gradio_client`` gets parameter names and defaults from their signatures, and Gradio's MCP
server (``python app.py --mcp``) serves each as a tool named after the function and described by its
docstring: the text before ``Args:`` is the tool's description, each ``Args:`` line one parameter's (one line
each: Gradio reads no continuation). So the docstrings, assembled below from facts stated once, are written
for a model choosing a tool: what it does, when to prefer another, the mask, formats, limits and what errors
mean. They never hold a key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import gradio as gr

from novita_ui.pixels import formats, imaging
from novita_ui.ui.app import App

Endpoint = Callable[..., Awaitable[str]]

_MASK = (
    "The mask is an image of the same shape as the photo: white (or opaque) pixels are removed, black (or "
    "transparent) ones kept; a mask of another size is scaled when its aspect ratio matches."
)
_INPUTS = (
    f"Inputs: {formats.ACCEPTED}, up to {imaging.MAX_INPUT_BYTES // 2**20} MB and "
    f"{imaging.MAX_INPUT_PIXELS // 1_000_000} megapixels."
)
_NOVITA_LIMITS = (
    f"Novita takes at most {imaging.MAX_SEND_PIXELS // 1_000_000} megapixels and "
    f"{imaging.MAX_SEND_BYTES // 2**20} MB: a larger photo is downscaled for Novita, and only the removed "
    "area is scaled back and pasted into the full-size original."
)
_RESULT = (
    "The result has the photo's size (EXIF orientation applied); every pixel outside the removed area is "
    "the original's."
)
_NOVITA_ERRORS = (
    "It uses the server's Novita key unless api_key is given. A failed call is a tool error whose text says "
    "what to do: a bad image or mask (fix it as told), a missing or rejected key (pass a valid api_key, or "
    "use local), Novita's rate limit (wait a minute), a failed Novita task (retry or try the other Novita "
    "tool; the text holds the task id), or the server's used-up shared budget (pass your own api_key, use "
    "local, or wait)."
)
_IMAGE = "image: The photo, as an http(s) URL or a data:image/...;base64 URI."
_MASK_ARG = "mask: The mask image (URL or data URI), same shape as the photo: white = remove, black = keep."
_FORMAT = 'output_format: Format of the result: "jpeg" (default), "png" or "webp".'
_KEY = "api_key: Optional Novita API key (sk_...) for this call only; omit to use the server's key."
_RETURNS = "The cleaned photo (the image, and a URL to download the exact file)."

ERASE_DOC = (
    (
        "Remove objects, people or text from a photo with Novita AI's generative eraser (cloud).",
        'The only tool that finds what to remove from a text prompt alone (e.g. "dog"): give a mask, a '
        "prompt, or both. It runs as a Novita task; the call waits for it (usually seconds).",
        _MASK,
        f"{_INPUTS} {_NOVITA_LIMITS} {_RESULT}",
        _NOVITA_ERRORS,
    ),
    (
        _IMAGE,
        "mask: Optional mask image (URL or data URI): white = remove, black = keep; omit to use the prompt.",
        'prompt: Optional description of what to remove (e.g. "dog", "power lines").',
        _FORMAT,
        _KEY,
    ),
)
CLEANUP_DOC = (
    (
        "Remove what a mask covers from a photo with Novita AI's cleanup model (cloud, one quick request).",
        "One synchronous request, with a mask only (no prompt): to remove something by description use "
        "erase, and try erase too when the fill does not look right.",
        _MASK,
        f"{_INPUTS} {_NOVITA_LIMITS} {_RESULT}",
        _NOVITA_ERRORS,
    ),
    (_IMAGE, _MASK_ARG, _FORMAT, _KEY),
)
REMOVE_TEXT_DOC = (
    (
        "Remove all text from a photo with Novita AI (cloud, one request): captions, watermarks, signs.",
        "No mask and no prompt: Novita finds the text itself, and only what it changed is kept (every other "
        "pixel stays the original's). To remove one thing that is not text, use erase or cleanup.",
        f"{_INPUTS} {_NOVITA_LIMITS} {_RESULT}",
        _NOVITA_ERRORS,
    ),
    (_IMAGE, _FORMAT, _KEY),
)
LOCAL_DOC = (
    (
        "Remove what a mask covers from a photo on this server (offline: no key, no cost, no upload).",
        "It fills the area from the pixels around it (OpenCV's Telea inpainting): fine for small objects, "
        "text, wires and blemishes; large areas in busy scenes come out smeared, so use erase for those. It "
        "needs a mask (no prompt).",
        _MASK,
        f"{_INPUTS} The photo is processed at full size. {_RESULT}",
        "A failed call is a tool error whose text says what to change in the image or mask.",
    ),
    (_IMAGE, _MASK_ARG, _FORMAT),
)

SELECT_DOC = (
    (
        "Find the outline of one object inside a box on a photo, on this server (offline: no key, no cost).",
        "It returns a mask (white = the object, black = the rest) at the photo's full size that follows the "
        "object's edges (OpenCV GrabCut): pass it as the mask of erase, cleanup or local to remove the "
        "object without drawing its outline. Works best when the object's colours differ from its "
        "surroundings; draw the box just around the whole object.",
        f"{_INPUTS} The box is in the photo's pixels, with its EXIF orientation applied.",
        "A failed call is a tool error whose text says what to change (a box outside the photo, a box "
        "covering all of it, nothing found inside it).",
    ),
    (
        _IMAGE,
        'box: The box around the object as "X0,Y0,X1,Y1" in pixels (left, top, right, bottom).',
        "grow: Pixels to grow the mask by (negative shrinks it); 0 (default) follows the outline exactly.",
    ),
)
_SELECT_RETURNS = "The object's mask as a PNG (white = the object), and a URL to download it."


def docstring(doc: tuple[tuple[str, ...], tuple[str, ...]], returns: str = _RETURNS) -> str:
    """A docstring in the layout Gradio parses: paragraphs, then ``Args:`` (one line each), ``Returns:``."""
    paragraphs, args = doc
    return "\n\n".join(
        [*paragraphs, "Args:\n" + "\n".join(f"    {a}" for a in args), "Returns:\n    " + returns]
    )


def endpoints(app: App) -> tuple[Endpoint, Endpoint, Endpoint, Endpoint]:
    """The /erase, /cleanup, /remove_text and /local functions for ``app`` (in that order)."""

    async def erase(
        image: str | None,
        mask: str | None = None,
        prompt: str | None = None,
        output_format: str | None = "jpeg",
        api_key: str | None = None,
        request: gr.Request | None = None,
    ) -> str:
        return await app.api.erase(image, mask, prompt, output_format, api_key, request)

    async def cleanup(
        image: str | None,
        mask: str | None,
        output_format: str | None = "jpeg",
        api_key: str | None = None,
        request: gr.Request | None = None,
    ) -> str:
        return await app.api.cleanup(image, mask, output_format, api_key, request)

    async def remove_text(
        image: str | None,
        output_format: str | None = "jpeg",
        api_key: str | None = None,
        request: gr.Request | None = None,
    ) -> str:
        return await app.api.remove_text(image, output_format, api_key, request)

    async def local(
        image: str | None,
        mask: str | None,
        output_format: str | None = "jpeg",
        request: gr.Request | None = None,
    ) -> str:
        return await app.api.local(image, mask, output_format, request)

    documented = (
        (erase, ERASE_DOC),
        (cleanup, CLEANUP_DOC),
        (remove_text, REMOVE_TEXT_DOC),
        (local, LOCAL_DOC),
    )
    for function, doc in documented:
        function.__doc__ = docstring(doc)
    return erase, cleanup, remove_text, local


def select_endpoint(app: App) -> Endpoint:
    """The /select function for ``app``: the mask of the object inside a box."""

    async def select(
        image: str | None, box: str | None, grow: float | None = 0, request: gr.Request | None = None
    ) -> str:
        return await app.api.select(image, box, grow, request)

    select.__doc__ = docstring(SELECT_DOC, _SELECT_RETURNS)
    return select
