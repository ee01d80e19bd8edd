"""Fidelity of the finishing step: what five rounds of "remove, keep editing" do to the rest of the photo.

For each source kind and output format, the photo goes through five edits (each replaces a 1 % box with
content from elsewhere in the photo, as an inpaint would), once through today's finish (re-encode at
JPEG q95 4:2:0 / WebP q95, upright pixels) and once through the new one (``service._finish``: JPEG block
edit, else a re-encode matched to the source), side by side in one run. Figures, against the decoded
original, in the file's stored frame:

* max change outside the touched blocks (every 16 x 16 MCU a mask touches, plus the 1 px that chroma
  interpolation reaches), after round 1 and round 5; and outside the masks themselves;
* output size / original size after round 5; time of the finishing step per round.

The 12 MP rows time one JPEG -> JPEG round; the Novita row compares downloading the result as PNG (what
is asked for now) with JPEG q95 (before). Images are photo-like (smooth fields with camera-like grain).
Times are CPU time of this process (the machine is shared; wall time there measures the neighbours).

    .venv/bin/python -m benchmarks.bench_fidelity [--quick]
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageOps

from novita_ui.pixels import imaging, jpegblocks, jpegedit, results
from novita_ui.service import RemoveRequest, _finish
from tests.images import encode, photo_like

COMMAND = ".venv/bin/python -m benchmarks.bench_fidelity"
FORMATS: tuple[imaging.OutputFormat, ...] = ("jpeg", "png", "webp")
# Five boxes (fractions of width and height), each 1 % of the photo, in different places.
BOXES = [(0.05, 0.1), (0.6, 0.15), (0.3, 0.55), (0.75, 0.7), (0.45, 0.3)]
Finish = Callable[[imaging.Photo, imaging.Array, imaging.OutputFormat], bytes]


def pixels(width: int, height: int) -> np.ndarray:
    """Photo-like pixels whose grain is softened to what a camera's denoiser leaves."""
    return np.asarray(cv2.GaussianBlur(photo_like(width, height, seed=5), (3, 3), 0.8), dtype=np.uint8)


def sources(width: int, height: int) -> dict[str, tuple[bytes, int]]:
    """Each source kind: (file bytes, EXIF orientation)."""
    px = pixels(width, height)
    exif = Image.Exif()
    exif[0x0112] = 6
    alpha = np.tile(np.linspace(60, 255, width).astype(np.uint8), (height, 1))
    return {
        "JPEG q100 4:4:4": (encode(px, "JPEG", quality=100, subsampling="4:4:4"), 1),
        "JPEG q85 4:2:0": (encode(px, "JPEG", quality=85, subsampling="4:2:0"), 1),
        "JPEG q90 EXIF-6": (encode(px, "JPEG", quality=90, exif=exif.tobytes()), 6),
        "PNG": (encode(px, "PNG"), 1),
        "RGBA PNG": (encode(np.dstack([px, alpha]), "PNG"), 1),
        "WebP q90": (encode(px, "WEBP", quality=90), 1),
    }


def masks(width: int, height: int) -> list[np.ndarray]:
    """The five upright masks, each a box of 10 % x 10 % of the photo."""
    out = []
    for fx, fy in BOXES:
        mask = np.zeros((height, width), np.uint8)
        x0, y0 = int(fx * width), int(fy * height)
        mask[y0 : y0 + height // 10, x0 : x0 + width // 10] = 255
        out.append(mask)
    return out


def edit(photo: imaging.Photo, mask: np.ndarray) -> imaging.Array:
    """What an engine does: new content in the mask (here copied from elsewhere), the rest untouched."""
    rgb = photo.rgb.copy()
    where = mask > 0
    rgb[where] = np.roll(photo.rgb, photo.size[0] // 3, axis=1)[where]
    return rgb


def today(photo: imaging.Photo, rgb: imaging.Array, fmt: imaging.OutputFormat) -> bytes:
    """The finishing step before this change: a fixed-quality re-encode of the upright pixels."""
    return results.encode_output(rgb, fmt, alpha=photo.alpha, exif=photo.exif, icc=photo.icc)


def new(photo: imaging.Photo, rgb: imaging.Array, fmt: imaging.OutputFormat) -> bytes:
    """The finishing step now: block edit for JPEG to JPEG, else a re-encode matched to the source."""
    return _finish(photo, rgb, RemoveRequest(engine="local", image=b"", output_format=fmt)).data


def with_codec(codec: jpegblocks.Codec) -> Finish:
    """The new finishing step with the given block codec instead of the fastest installed one."""

    def finish(photo: imaging.Photo, rgb: imaging.Array, fmt: imaging.OutputFormat) -> bytes:
        fastest = jpegblocks.codec
        setattr(jpegblocks, "codec", lambda: codec)  # noqa: B010  # swap the module's choice for this call
        try:
            return new(photo, rgb, fmt)
        finally:
            setattr(jpegblocks, "codec", fastest)  # noqa: B010

    return finish


def stored(data: bytes, orientation: int) -> np.ndarray:
    """Decoded pixels in the source file's stored frame (RGB, int)."""
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    return np.asarray(jpegedit._to_stored(upright, orientation), dtype=np.int16)


def near_blocks(mask: np.ndarray, block: int = 16, ring: int = 1) -> np.ndarray:
    """Pixels of the blocks a mask touches (file grid, stored frame), plus the ring chroma reaches."""
    h, w = mask.shape
    padded = np.zeros((-(-h // block) * block, -(-w // block) * block), bool)
    padded[:h, :w] = mask > 0
    grid = padded.reshape(padded.shape[0] // block, block, padded.shape[1] // block, block).any(axis=(1, 3))
    area = np.kron(grid, np.ones((block, block), np.uint8))[:h, :w]
    return np.asarray(cv2.dilate(area, np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)) > 0)


def chain(data: bytes, orientation: int, fmt: imaging.OutputFormat, finish: Finish) -> dict[str, Any]:
    """Five rounds; the change outside the touched blocks after rounds 1 and 5, size, finishing time."""
    original = stored(data, orientation)
    upright_size = Image.open(io.BytesIO(data)).size[:: -1 if orientation in (5, 6, 7, 8) else 1]
    union = np.zeros(original.shape[:2], bool)
    current, seconds, figures = data, 0.0, {}
    for index, mask in enumerate(masks(*upright_size), start=1):
        photo = imaging.open_photo(current)
        rgb = edit(photo, mask)
        started = time.process_time()
        current = finish(photo, rgb, fmt)
        seconds += time.process_time() - started
        union |= np.asarray(jpegedit._to_stored(mask, orientation)) > 0
        if index in (1, 5):
            change = np.abs(stored(current, orientation) - original).max(axis=2)
            figures[f"blocks_r{index}"] = int(change[~near_blocks(union)].max())
            figures[f"mask_r{index}"] = int(change[~union].max())
    return {**figures, "size": len(current) / len(data), "finish_ms": 1000 * seconds / 5}


def matrix(width: int, height: int) -> list[dict[str, Any]]:
    """Every source kind x output format, today's path and the new one."""
    rows = []
    for name, (data, orientation) in sources(width, height).items():
        for fmt in FORMATS:
            before, after = chain(data, orientation, fmt, today), chain(data, orientation, fmt, new)
            rows.append({"source": name, "format": fmt, "today": before, "new": after})
            print(f"  {name} -> {fmt}: {after}", file=sys.stderr, flush=True)
    return rows


def timing(width: int, height: int, repeats: int = 3) -> list[dict[str, Any]]:
    """One JPEG -> JPEG finish on a large photo: today's, new, new with jpeglib; best of ``repeats``."""
    rows = []
    for name, (data, _) in list(sources(width, height).items())[:3]:
        photo = imaging.open_photo(data)
        rgb = edit(photo, masks(*photo.size)[0])
        best = {}
        for label, finish in (
            ("today", today),
            ("new", new),
            ("jpeglib", with_codec(jpegblocks.JpeglibCodec())),
        ):
            runs = []
            for _ in range(repeats):
                started = time.process_time()
                finish(photo, rgb, "jpeg")
                runs.append(time.process_time() - started)
            best[label] = 1000 * min(runs)
        rows.append({"source": name, "megapixels": width * height / 1e6, **best, "bytes": len(data)})
    return rows


def download(width: int, height: int) -> dict[str, Any]:
    """The Novita result as PNG (asked for now) versus JPEG q95 (before): bytes and decode time."""
    px = pixels(width, height)
    png, jpeg = encode(px, "PNG", compress_level=6), encode(px, "JPEG", quality=95)
    decode_ms = {}
    for label, data in (("png", png), ("jpeg", jpeg)):
        started = time.process_time()
        Image.open(io.BytesIO(data)).load()
        decode_ms[label] = 1000 * (time.process_time() - started)
    return {"png": len(png), "jpeg": len(jpeg), "decode_ms": decode_ms}


def run(quick: bool) -> list[dict[str, Any]]:
    """Summary rows (figure, value, target, baseline, ok) for ``python -m benchmarks``."""
    size = (800, 608) if quick else (1600, 1200)
    big = (2000, 1500) if quick else (4000, 3000)
    return summary(matrix(*size), timing(*big), download(*big), size, big)


def summary(
    rows: list[dict[str, Any]], times: list[dict[str, Any]], dl: dict[str, Any], size: Any, big: Any
) -> list[dict[str, Any]]:
    detail = [_detail(r) for r in rows]
    jpeg = [r for r in rows if r["format"] == "jpeg" and r["source"].startswith("JPEG")]
    png = [r for r in rows if (r["source"], r["format"]) == ("PNG", "png")]
    worst = max(r["new"]["blocks_r5"] for r in jpeg)
    sizes = [r["new"]["size"] for r in jpeg]
    added = max(t["new"] - t["today"] for t in times)
    mp = times[0]["megapixels"]
    mb = 1e6 / 8 * 100  # bytes per second at 100 Mbit/s
    return [
        {
            "figure": f"fidelity: JPEG->JPEG max change outside edited blocks, 5 rounds, {size[0]}x{size[1]}",
            "value": worst,
            "target": "0",
            "baseline": f"{max(r['today']['blocks_r5'] for r in jpeg)} (re-encode)",
            "ok": worst == 0,
        },
        {
            "figure": "fidelity: JPEG->JPEG output size / original after 5 rounds",
            "value": f"{min(sizes):.2f}-{max(sizes):.2f}x",
            "target": "0.8-1.25x",
            "baseline": "{:.2f}-{:.2f}x".format(*_range([r["today"]["size"] for r in jpeg])),
            "ok": min(sizes) >= 0.8 and max(sizes) <= 1.25,
        },
        {
            "figure": f"fidelity: JPEG->JPEG time added, {mp:g} MP (ms)",
            "value": round(added),
            "target": "<= 150",
            "baseline": "; ".join(
                f"{t['source']}: {t['today']:.0f} -> {t['new']:.0f} ({jpegblocks.codec().name}), "
                f"{t['jpeglib']:.0f} (jpeglib)"
                for t in times
            ),
            "ok": added <= 150,
        },
        {
            "figure": "fidelity: PNG->PNG max change outside the mask, 5 rounds",
            "value": png[0]["new"]["mask_r5"],
            "target": "0",
            "baseline": f"{png[0]['today']['mask_r5']} (today)",
            "ok": png[0]["new"]["mask_r5"] == 0,
        },
        {
            "figure": f"fidelity: Novita result as PNG vs JPEG q95, {big[0] * big[1] / 1e6:g} MP (MB)",
            "value": f"{dl['png'] / 1e6:.1f} ({dl['png'] / mb:.1f} s at 100 Mbit/s)",
            "target": "measured",
            "baseline": f"{dl['jpeg'] / 1e6:.1f} ({dl['jpeg'] / mb:.1f} s)",
            "ok": True,
        },
        *detail,
    ]


def _range(values: list[float]) -> tuple[float, float]:
    return min(values), max(values)


def _detail(row: dict[str, Any]) -> dict[str, Any]:
    """One source x format: new vs today, max change outside the blocks r1/r5, size, finish time."""
    a, b = row["new"], row["today"]
    return {
        "figure": f"  detail: {row['source']} -> {row['format']} (outside blocks r1/r5; size; finish ms)",
        "value": f"{a['blocks_r1']}/{a['blocks_r5']}; {a['size']:.2f}x; {a['finish_ms']:.0f}",
        "target": "-",
        "baseline": f"{b['blocks_r1']}/{b['blocks_r5']}; {b['size']:.2f}x; {b['finish_ms']:.0f}",
        "ok": True,
    }


def main(argv: list[str] | None = None) -> int:
    from benchmarks.bench_client import cli

    return cli(argv, run, COMMAND, __doc__, "smaller photos")


if __name__ == "__main__":
    sys.exit(main())
