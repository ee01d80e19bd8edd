"""Which photo formats the app reads, stated once: the decoders, the names users are told, the suffixes.

Pillow reads JPEG, PNG, WebP, AVIF (built in since Pillow 11.3), BMP, TIFF and GIF; HEIC/HEIF (what an
iPhone saves) comes from pillow-heif, registered with Pillow on first use, not at import time.
Novita takes only JPEG, PNG and WebP, and results are written only as those three.
"""

from __future__ import annotations

import functools

# What users are told the app opens (the "cannot open" message, the CLI, batch, the MCP tools' descriptions).
ACCEPTED = "JPEG, PNG, WebP, HEIC/HEIF, AVIF, BMP, TIFF or GIF"
# File names batch picks up in a folder (the web app and the API read any file by its content).
INPUT_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".avif", ".bmp", ".tif", ".tiff", ".gif"}
)
# Pillow's format names of phone photos no browser and no Novita endpoint takes as they are: sent and
# shown as JPEG, and written as JPEG unless another format is asked for.
PHONE_FORMATS = frozenset({"HEIF", "AVIF"})
PHONE_SUFFIXES = frozenset({".heic", ".heif", ".avif"})


@functools.cache
def register_decoders() -> None:
    """Teach Pillow to open HEIC/HEIF (once per process; worker processes call it on their first photo)."""
    import pillow_heif  # lazy: ~30 ms, and only the photo paths need it

    pillow_heif.register_heif_opener()


def input_notes(format_name: str, animated: bool, sent_mime: str | None) -> tuple[str, ...]:
    """What a user should know about how their file was read and sent (``sent_mime``: None if not sent)."""
    notes = []
    if animated:
        kind = {"GIF": "GIF", "WEBP": "WebP", "PNG": "PNG"}.get(format_name, "image")
        notes.append(
            f"This animated {kind} was cleaned as one still frame (its first): the result is a still."
        )
    if sent_mime is not None and format_name in PHONE_FORMATS:
        name = "HEIC" if format_name == "HEIF" else format_name
        how = "JPEG at quality 95" if sent_mime == "image/jpeg" else "lossless PNG"
        notes.append(
            f"Novita does not take {name}, so the photo was sent to it encoded once as {how}; "
            "only the removed area comes back from it."
        )
    return tuple(notes)
