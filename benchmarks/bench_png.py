"""Benchmark: writing a 12 MP result as PNG, Pillow's one-core encoder against the banded one (pixels/png.py).

The photo is bench_browser's photo-like 4000 x 3000 JPEG (smooth fields plus sensor-like grain), decoded.
Both encoders run in turns in one process (best of N each, interleaved), so machine load hits both alike;
the table gives wall time, CPU time and size. Both write level 3 and decode back to identical pixels.

    .venv/bin/python -m benchmarks.bench_png [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

COMMAND = ".venv/bin/python -m benchmarks.bench_png"


def run(quick: bool) -> list[dict[str, Any]]:
    """One row per encoder: best wall and CPU seconds, megabytes."""
    from PIL import Image

    from benchmarks.bench_browser import make_photo
    from novita_ui.pixels import imaging, png

    with tempfile.TemporaryDirectory() as folder:
        photo = imaging.open_photo(make_photo(Path(folder)).read_bytes())
    image = Image.fromarray(photo.rgb)

    def pillow() -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, "PNG", compress_level=3)
        return buffer.getvalue()

    def banded() -> bytes:
        return png.encode(image, level=3)

    encoders = {"Pillow, one core (before)": pillow, f"banded, {os.cpu_count()} cores (now)": banded}
    best: dict[str, tuple[float, float, int]] = {}
    for _ in range(1 if quick else 3):
        for name, encode in encoders.items():
            wall, cpu = time.perf_counter(), time.process_time()
            data = encode()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if name not in best or wall < best[name][0]:
                best[name] = (wall, cpu, len(data))
            with Image.open(io.BytesIO(data)) as back:
                assert np.array_equal(np.asarray(back), photo.rgb), f"{name} changed pixels"
    return [
        {"encoder": name, "wall_s": wall, "cpu_s": cpu, "megabytes": size / 1e6}
        for name, (wall, cpu, size) in best.items()
    ]


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table, with the ratio to the first row."""
    lines = ["| encoder | wall | CPU | size | wall vs before |", "|---|---:|---:|---:|---:|"]
    first = rows[0]["wall_s"]
    for r in rows:
        ratio = first / r["wall_s"]
        lines.append(
            f"| {r['encoder']} | {r['wall_s']:.2f} s | {r['cpu_s']:.2f} s | {r['megabytes']:.1f} MB "
            f"| {ratio:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the table and the command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 run per encoder instead of 3")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    print(table(rows))
    print(f"\n    {COMMAND}{' --quick' if args.quick else ''}   (load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
