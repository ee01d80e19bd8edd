"""Pure image functions: load and normalise, masks, size limits, what is sent to Novita. No I/O.
(A result's way back, decode, paste-back and encode, is ``results``.)

Pixel convention, used everywhere: RGB uint8 ``H x W x 3`` images, alpha as a separate uint8 ``H x W`` array,
masks as uint8 ``H x W`` in {0, 255} where 255 means "remove".
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from novita_ui.errors import InputError
from novita_ui.pixels import formats

Array = npt.NDArray[np.uint8]
OutputFormat = Literal["jpeg", "png", "webp"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("jpeg", "png", "webp")
# A mask fits a photo of the same shape: aspect ratios within 1 %, plus a pixel of rounding on the mask.
ASPECT_TOLERANCE = 0.01
EXTENSIONS: dict[str, str] = {"jpeg": "jpg", "png": "png", "webp": "webp"}
MIME_TYPES: dict[str, str] = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

# Novita's image family accepts at most this per image sent.
MAX_SEND_PIXELS = 16_000_000
MAX_SEND_BYTES = 30 * 1024 * 1024
# What we agree to decode at all: a 16384 x 6000 panorama fits; a 20000 x 20000 bomb does not.
MAX_INPUT_PIXELS = 100_000_000
MAX_INPUT_BYTES = 100 * 1024 * 1024
# Formats Novita decodes for sure: only these may go out as the user's own bytes.
_SENDABLE_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
_SENDABLE_MODES = frozenset({"RGB", "RGBA", "L"})
_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True, eq=False)
class Photo:
    """A decoded photo: upright pixels plus what is needed to write a faithful output."""

    data: bytes  # the file as the user gave it
    format: str  # Pillow's name: "JPEG", "PNG", ...
    mode: str  # the file's own mode, before normalisation
    rgb: Array  # H x W x 3, EXIF orientation applied
    alpha: Array | None  # H x W, or None when fully opaque
    exif: bytes | None  # orientation reset to 1, since the pixels are upright now
    icc: bytes | None  # only an RGB profile: it must describe the pixels we write
    reoriented: bool  # True when EXIF orientation changed the pixels (the file's bytes are not upright)
    animated: bool = False  # an animated GIF/WebP/PNG (or a HEIF sequence): only its first frame is used

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the upright image."""
        return self.rgb.shape[1], self.rgb.shape[0]

    @property
    def sendable_as_is(self) -> bool:
        """True when the file's own bytes can go to Novita unchanged (no re-encode)."""
        w, h = self.size
        return (
            self.format in _SENDABLE_FORMATS
            and self.mode in _SENDABLE_MODES
            and not self.reoriented
            and w * h <= MAX_SEND_PIXELS
            and len(self.data) <= MAX_SEND_BYTES
        )


def _open(data: bytes, what: str) -> Image.Image:
    """Open image bytes lazily (header only) with clear errors for empty, unknown and huge files."""
    if not data:
        raise InputError(f"The {what} file is empty (0 bytes). Choose another file.")
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"The {what} file is larger than {MAX_INPUT_BYTES // 2**20} MB. Use a smaller file.")
    formats.register_decoders()
    try:
        with warnings.catch_warnings():
            # We enforce our own, stricter pixel limit below; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise InputError(_too_many_pixels(what)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InputError(f"The {what} file could not be read as an image. Use {formats.ACCEPTED}.") from None
    w, h = image.size
    if w < 1 or h < 1 or w * h > MAX_INPUT_PIXELS:
        raise InputError(_too_many_pixels(what, (w, h)))
    return image


def _too_many_pixels(what: str, size: tuple[int, int] | None = None) -> str:
    got = f" ({size[0]} x {size[1]})" if size else ""
    return f"The {what} is too large{got}: at most {MAX_INPUT_PIXELS // 1_000_000} megapixels are supported."


def _load_pixels(image: Image.Image, what: str) -> None:
    """Decode fully, turning truncated or corrupt data into an InputError."""
    try:
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise InputError(f"The {what} file is damaged or truncated. Export it again and retry.") from None


def _to_rgb_and_alpha(image: Image.Image) -> tuple[Array, Array | None]:
    """Normalise any mode (L, LA, P+transparency, CMYK, I;16, RGBA...) to RGB plus optional alpha."""
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        # Pillow clips 16/32-bit values when converting to L; scale them to 8 bits instead.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max() > 255 else 255.0
        grey = np.clip(values * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2)), None
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La")
    target = "RGBA" if has_alpha else "RGB"
    pixels = _array(image if image.mode == target else image.convert(target))
    if not has_alpha:
        return pixels, None
    alpha = np.ascontiguousarray(pixels[..., 3])
    if alpha.min() == 255:
        return np.ascontiguousarray(pixels[..., :3]), None
    return np.ascontiguousarray(pixels[..., :3]), alpha


# Rows copied per step by _array: ~12 MB of RGB at 8000 px wide, small beside the image itself.
_STRIP_ROWS = 512


def _array(image: Image.Image) -> Array:
    """A writable array of an RGB/RGBA image, filled in strips.

    ``np.asarray(image)`` goes through one ``tobytes()`` of the whole image, which builds its chunks and joins
    them: two extra full copies at the peak (1.3 GB over Pillow's own for 100 MP). Strips keep it to one.
    """
    w, h = image.size
    out = np.empty((h, w, len(image.getbands())), dtype=np.uint8)
    for top in range(0, h, _STRIP_ROWS):
        strip = image.crop((0, top, w, min(h, top + _STRIP_ROWS)))
        out[top : top + strip.height] = np.asarray(strip)
    return out


def _upright_exif(image: Image.Image) -> bytes | None:
    exif = image.getexif()
    if not exif:
        return None
    if _ORIENTATION_TAG in exif:
        exif[_ORIENTATION_TAG] = 1
    return exif.tobytes()


def image_pixels(data: bytes, what: str = "image") -> int:
    """Width x height from the header alone (nothing decoded), with the same checks as a full open."""
    w, h = _open(data, what).size
    return w * h


# EXIF orientation -> (transpose first, then rotate by k quarter turns counter-clockwise), as numpy views.
_UPRIGHT = {2: (False, 0, True), 3: (False, 2, False), 4: (False, 2, True), 5: (True, 0, False)}
_UPRIGHT |= {6: (False, 3, False), 7: (True, 2, False), 8: (False, 1, False)}


def _upright(pixels: Array, orientation: int) -> Array:
    """Apply an EXIF orientation to an array (the same pixels as ImageOps.exif_transpose, one copy)."""
    transpose, quarter_turns, mirror = _UPRIGHT[orientation]
    view = pixels.swapaxes(0, 1) if transpose else pixels
    view = np.rot90(view, quarter_turns)
    return np.ascontiguousarray(view[:, ::-1] if mirror else view)


def open_photo(data: bytes) -> Photo:
    """Decode a photo: first frame, EXIF orientation applied, any mode normalised to RGB(+alpha)."""
    image = _open(data, "image")
    file_format = image.format or "UNKNOWN"
    mode = image.mode
    animated = bool(getattr(image, "is_animated", False))
    _load_pixels(image, "image")
    orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    reoriented = orientation in _UPRIGHT
    icc = image.info.get("icc_profile") if mode in ("RGB", "RGBA", "P", "L") else None
    exif = _upright_exif(image)
    rgb, alpha = _to_rgb_and_alpha(image)
    del image  # Pillow's copy (4 bytes a pixel) goes before the rotated one is made
    if reoriented:
        rgb = _upright(rgb, orientation)
        alpha = None if alpha is None else _upright(alpha, orientation)
    return Photo(
        data=data,
        format=file_format,
        mode=mode,
        rgb=rgb,
        alpha=alpha,
        exif=exif,
        icc=icc if isinstance(icc, bytes) and mode != "L" else None,
        reoriented=reoriented,
        animated=animated,
    )


# ---- masks -----------------------------------------------------------------------------------------------


def mask_from_array(values: npt.NDArray[Any], size: tuple[int, int], *, what: str = "mask") -> Array:
    """Binarise an array (H x W, or H x W x C where alpha or brightness marks the area) and fit it to size."""
    if values.ndim == 3 and values.shape[2] in (2, 4):
        marked = values[..., -1] > 0  # alpha is the mask (editor layers, RGBA mask files)
    elif values.ndim == 3:
        marked = values.max(axis=2) > 127
    elif values.ndim == 2:
        marked = values > (0 if values.dtype == np.bool_ else 127)
    else:
        raise InputError(f"The {what} has an unusable shape {values.shape}.")
    return fit_mask(marked.astype(np.uint8) * 255, size, what=what)


def checked_format(value: object, *, as_given: object = None) -> OutputFormat:
    """``value`` when results can be written in it; else the InputError users see (quoting ``as_given``)."""
    if value in OUTPUT_FORMATS:
        return value
    shown = value if as_given is None else as_given
    raise InputError(f"Unknown output format {shown!r}: choose jpeg, png or webp.")


def same_shape(mask_size: tuple[int, int], size: tuple[int, int]) -> bool:
    """Whether a mask of ``mask_size`` can be scaled onto ``size`` without marking the wrong area."""
    (mw, mh), (w, h) = mask_size, size
    return abs(mw / mh - w / h) <= ASPECT_TOLERANCE * (w / h) + 1.0 / min(mw, mh)


def fit_mask(mask: Array, size: tuple[int, int], *, what: str = "mask") -> Array:
    """Resize a {0,255} mask to size (nearest neighbour) when the aspect ratio matches; else an InputError."""
    w, h = size
    mh, mw = mask.shape[:2]
    if (mw, mh) == (w, h):
        return mask
    if not same_shape((mw, mh), size):
        raise InputError(
            f"The {what} is {mw} x {mh} but the image is {w} x {h}: their shapes differ. "
            "Use a mask with the same aspect ratio as the image."
        )
    return np.asarray(cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST), dtype=np.uint8)


def load_mask(data: bytes, size: tuple[int, int]) -> Array:
    """Read a mask file: white (or opaque, for RGBA) = remove. Fitted to the image's size."""
    image = _open(data, "mask")
    _load_pixels(image, "mask")
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"))
        alpha = rgba[..., 3]
        if alpha.min() < 255:
            return mask_from_array(alpha, size)
        return mask_from_array(rgba[..., :3], size)
    return mask_from_array(np.asarray(image.convert("L")), size)


def mask_from_layers(layers: Sequence[npt.NDArray[Any]], size: tuple[int, int]) -> Array:
    """Union of editor layers' alpha (strokes on every layer count), fitted to the image's size."""
    union: Array | None = None
    for layer in layers:
        values = np.asarray(layer)
        # Any alpha counts: a translucent brush paints alpha ~128, which a "> 127" reading would drop.
        painted = values[..., 3] > 0 if values.ndim == 3 and values.shape[2] == 4 else values
        part = mask_from_array(np.asarray(painted), size, what="painted mask")
        union = part if union is None else np.maximum(union, part)
    if union is None:
        return np.zeros((size[1], size[0]), dtype=np.uint8)
    return union


def grow_mask(mask: Array, pixels: int) -> Array:
    """Dilate the mask by ``pixels`` (a disc), so soft edges of the object go too; a negative ``pixels``
    shrinks it instead (erodes), for a mask that bleeds into what must stay."""
    if pixels == 0:
        return mask
    reach = abs(pixels)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    changed = cv2.dilate(mask, kernel) if pixels > 0 else cv2.erode(mask, kernel)
    return np.asarray(changed, dtype=np.uint8)


# Nothing to fill from: the one rule for a mask over every pixel (the offline engine refuses it too).
WHOLE_MASK = "The mask covers the whole image, so nothing is left to fill it from"


def covers_everything(mask: npt.NDArray[Any]) -> bool:
    """Whether ``mask`` marks every pixel: no engine has anything left to fill the hole from."""
    return bool(mask.all())


def require_mask(mask: Array) -> Array:
    """An empty mask is an input error: there would be nothing to remove."""
    if not mask.any():
        raise InputError("The mask is empty. Paint over what should be removed (white = remove).")
    if covers_everything(mask):
        raise InputError(f"{WHOLE_MASK}. Paint only over what should be removed.")
    return mask


# ---- what goes to Novita ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """The bytes sent for one request, and how they relate to the full-resolution photo."""

    image: bytes
    mime: str
    mask: bytes | None  # PNG, same size as the image sent
    size: tuple[int, int]  # size of the image sent
    downscaled: bool


def encode_mask(mask: Array) -> bytes:
    """A mask as a 1-bit PNG: a third of the time of an 8-bit one, and a tenth of the bytes."""
    h, w = mask.shape
    packed = np.packbits(mask > 0, axis=1)  # 8 pixels per byte, rows padded, as PNG's 1-bit rows are
    buffer = io.BytesIO()
    Image.frombytes("1", (w, h), packed.tobytes()).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _encode_for_sending(rgb: Array, alpha: Array | None) -> tuple[bytes, str]:
    # JPEG q95 is ~20x faster and ~6x smaller than PNG for photos; PNG only when alpha must survive.
    buffer = io.BytesIO()
    if alpha is None:
        Image.fromarray(rgb).save(buffer, "JPEG", quality=95)
        return buffer.getvalue(), "image/jpeg"
    Image.fromarray(np.dstack([rgb, alpha])).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue(), "image/png"


def resize(pixels: Array, size: tuple[int, int]) -> Array:
    """Resize an image or alpha plane to (width, height): area averaging down, cubic up."""
    h, w = pixels.shape[:2]
    shrinking = size[0] * size[1] < w * h
    method = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return np.asarray(cv2.resize(pixels, size, interpolation=method), dtype=np.uint8)


def resize_mask_down(mask: Array, size: tuple[int, int]) -> Array:
    """Shrink a mask without losing thin strokes: any covered pixel stays covered."""
    small = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    return np.where(small > 0, 255, 0).astype(np.uint8)


def prepare_payload(photo: Photo, mask: Array | None) -> Payload:
    """Send the photo's own bytes when they fit Novita's limits; otherwise re-encode, downscaling to fit."""
    if photo.sendable_as_is:
        mime = MIME_TYPES[photo.format]
        return Payload(photo.data, mime, None if mask is None else encode_mask(mask), photo.size, False)

    def encode(size: tuple[int, int]) -> tuple[bytes, str]:
        if size == photo.size:
            return _encode_for_sending(photo.rgb, photo.alpha)
        alpha = None if photo.alpha is None else resize(photo.alpha, size)
        return _encode_for_sending(resize(photo.rgb, size), alpha)

    data, mime, size = fit_send_limits(photo.size, encode)
    small_mask = mask if mask is None or size == photo.size else resize_mask_down(mask, size)
    encoded_mask = None if small_mask is None else encode_mask(small_mask)
    return Payload(data, mime, encoded_mask, size, size != photo.size)


def fit_send_limits(
    size: tuple[int, int], encode: Callable[[tuple[int, int]], tuple[bytes, str]]
) -> tuple[bytes, str, tuple[int, int]]:
    """``encode`` at the largest size within Novita's limits (16 MP, then 30 MB): bytes, MIME type, size.

    Starts at the pixel limit and shrinks by the bytes' overshoot (with a margin) up to four times.
    """
    w, h = size
    scale = min(1.0, math.sqrt(MAX_SEND_PIXELS / (w * h)))
    for _ in range(4):
        scaled = (max(1, int(w * scale)), max(1, int(h * scale)))
        data, mime = encode(scaled)
        if len(data) <= MAX_SEND_BYTES:
            return data, mime, scaled
        scale *= 0.8 * math.sqrt(MAX_SEND_BYTES / len(data))
    raise InputError("The image cannot be made small enough for Novita (30 MB). Try a smaller image.")
