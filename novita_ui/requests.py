"""What a removal is asked and what it returns: the request every front end builds from its raw values
(checked on construction) and the finished photo with what the user should know about it. ``service`` runs
them; it re-exports both, so front ends import them from there."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from novita_ui.errors import InputError
from novita_ui.normalise import ENGINES, Engine, parse_format, text_or_none
from novita_ui.pixels import crop, imaging, local
from novita_ui.pixels import preview as previews


@dataclass(frozen=True, kw_only=True)
class RemoveRequest:
    """What to remove from which photo, with which engine, and how to return it.

    Front ends pass raw values: construction strips the prompt and key (empty -> None), reads the output
    format ("JPG" -> jpeg), reads ``grow`` (negative: shrink) and checks the engine and method (InputError
    when wrong).
    """

    engine: Engine
    image: bytes
    mask: npt.NDArray[np.generic] | None = None  # painted mask, any size with the image's aspect ratio
    mask_file: bytes | None = None  # or a mask file (white / opaque = remove)
    prompt: str | None = None
    output_format: imaging.OutputFormat = "jpeg"
    grow: int = 0  # px; negative shrinks the mask
    enterprise_plan: bool = False
    method: local.Choice = local.DEFAULT_CHOICE  # "auto": local.choose_method
    lossless_webp: bool | None = None  # None: lossless WebP exactly when the source was lossless
    api_key: str | None = field(default=None, repr=False)
    session: str | None = None  # who asked (a browser session); its first 8 characters go into log lines
    whole_photo: bool | None = None  # send the whole photo above Novita's limits (None: the settings say)
    # Also make a preview of the result at this (width, height), where the result's pixels already are (the
    # web page's before/after slider): decoding the written file again cost up to 1 s for a 12 MP PNG.
    preview_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            choices = f"{', '.join(ENGINES[:-1])} or {ENGINES[-1]}"
            raise InputError(f"Unknown engine {self.engine!r}: choose {choices}.")
        if self.method not in local.CHOICES:
            raise InputError(f"Unknown method {self.method!r}: choose {', '.join(local.CHOICES)}.")
        fixed = {
            "prompt": text_or_none(self.prompt),
            "api_key": text_or_none(self.api_key),
            "output_format": parse_format(self.output_format),
            "grow": int(self.grow or 0),
            "enterprise_plan": bool(self.enterprise_plan) and self.engine == "cleanup",
        }
        for name, value in fixed.items():
            object.__setattr__(self, name, value)  # frozen: set once, here

    @classmethod
    def from_raw(
        cls, *, engine: str, output_format: str | None = None, method: str | None = None, **values: Any
    ) -> RemoveRequest:
        """A request from a front end's raw values (strings as typed or flagged), checked on construction."""
        return cls(
            engine=engine,  # type: ignore[arg-type]  # __post_init__ checks it
            output_format=output_format or "jpeg",  # type: ignore[arg-type]  # __post_init__ parses it
            method=method or local.DEFAULT_CHOICE,  # type: ignore[arg-type]  # __post_init__ checks it
            **values,
        )


@dataclass(frozen=True)
class RemoveResult:
    """The cleaned photo, ready to save or download."""

    data: bytes
    format: imaging.OutputFormat
    size: tuple[int, int]
    engine: Engine
    task_id: str | None
    downscaled: bool  # the removed area was processed smaller than the original, then pasted back
    timings: dict[str, float]
    written: str = ""  # how the file was written: "jpeg blocks" (untouched blocks kept) or "re-encoded"
    method: local.Method | None = None  # the offline method that ran
    flattened: bool = False  # the photo had transparency and the format (JPEG) has none: laid on white
    region: crop.Region | None = None  # what went to Novita (None for the offline engine)
    input_notes: tuple[str, ...] = ()  # how the file was read and sent (formats.input_notes)
    preview: previews.Preview | None = None  # at the request's preview_size, when it asked for one

    @property
    def note(self) -> str | None:
        """What the user should know: what was sent when it was not simply the photo at full size, an
        animation cleaned as one frame, a HEIC/AVIF photo sent re-encoded."""
        return " ".join(n for n in (self._sent_note(), *self.input_notes) if n) or None

    def _sent_note(self) -> str | None:
        if self.region is None or (self.region.whole and not self.downscaled):
            return None
        if not self.region.whole:
            x0, y0, x1, y1 = self.region.box
            at = "at full resolution" if not self.downscaled else f"at {self.region.scale:.0%} of its size"
            return f"Only a {x1 - x0} x {y1 - y0} px crop around the mask was sent to Novita, {at}."
        return (
            f"The whole photo was sent at {self.region.scale:.0%} of its size (larger than Novita accepts); "
            "only the removed area was pasted back."
        )

    def record(self) -> dict[str, object]:
        """Extra sidecar fields: what was sent, the crop box and the scale."""
        return {} if self.region is None else self.region.record()


def output_name(source_name: str | None, fmt: imaging.OutputFormat) -> str:
    """``holiday.jpg`` + png -> ``holiday-cleaned.png``."""
    stem = os.path.splitext(os.path.basename(source_name or ""))[0].strip() or "image"
    return f"{stem}-cleaned.{imaging.EXTENSIONS[fmt]}"
