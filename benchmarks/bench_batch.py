"""Benchmark of batch mode: wall time of N small images against the fake Novita server, by concurrency.

What "0.5 s latency" means here: the fake server sleeps ``LATENCY`` seconds before every API answer
(``FakeNovita.latency``; the object store answers at once). Cleanup is one synchronous request per image,
so an image costs one latency and the ideal is ``images x 0.5 / concurrency`` (100 images at 8 at once:
6.25 s; whole waves make it 6.5 s). The eraser is shown for information: submit + one poll after
``poll_min_interval`` (0.25 s) + download = 2 x 0.5 + 0.25 = 1.25 s per image, so its ideal is
``images x 1.25 / concurrency``. Target: cleanup at concurrency 8 within 1.3x of its ideal; the baseline
is the same batch one image at a time. No rate limit (``rate="none"``): the limiter is not what is measured.

    .venv/bin/python -m benchmarks.bench_batch [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

LATENCY = 0.5
TARGET_RATIO = 1.3
SIZE = (128, 96)
COMMAND = ".venv/bin/python -m benchmarks.bench_batch"


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG", compress_level=1)
    return out.getvalue()


def make_inputs(folder: Path, count: int) -> tuple[Path, Path]:
    """``count`` small gradient photos in ``folder/in`` and one mask file; returns (input dir, mask)."""
    images = folder / "in"
    images.mkdir(parents=True)
    w, h = SIZE
    ys, xs = np.mgrid[0:h, 0:w]
    for i in range(count):
        rgb = np.stack([(xs * 2 + i) % 256, ys * 2 % 256, np.full_like(xs, 90)], -1).astype(np.uint8)
        (images / f"img{i:03d}.png").write_bytes(_png(rgb))
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4 : h // 2, w // 4 : w // 2] = 255
    (folder / "mask.png").write_bytes(_png(mask))
    return images, folder / "mask.png"


def per_image_latency(engine: str, poll_min_interval: float) -> float:
    """Seconds one image waits on the fake server (see the module docstring)."""
    return LATENCY if engine == "cleanup" else 2 * LATENCY + poll_min_interval


async def _case(
    url: str, key: str, images: Path, mask: Path, out: Path, engine: str, concurrency: int
) -> float:
    from novita_ui.batch import BatchOptions, run_batch_async
    from novita_ui.config import Settings

    settings = Settings(api_key=key, base_url=url)
    options = BatchOptions(
        input_dir=images,
        output_dir=out,
        mask=mask,
        engine=engine,  # type: ignore[arg-type]  # one of the two literals below
        concurrency=concurrency,
        rate="none",
        progress=False,
    )
    started = time.perf_counter()
    result = await run_batch_async(options, settings)
    seconds = time.perf_counter() - started
    if result.counts["done"] != len(result.outcomes):
        raise RuntimeError(f"{engine} at {concurrency}: {result.counts}")
    return seconds


def run(quick: bool) -> list[dict[str, Any]]:
    """Cleanup at concurrency 8 and 1 (baseline), eraser at 8 (information); one dict per case."""
    from novita_ui.config import Settings
    from tests.fake_novita import TEST_KEY, running_fake_novita

    count = 24 if quick else 100
    poll = Settings().poll_min_interval
    cases = [("cleanup", 8), ("cleanup", 1), ("eraser", 8)]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp, running_fake_novita() as fake:
        folder = Path(tmp)
        images, mask = make_inputs(folder, count)
        # Warm-up, untimed: imports (OpenCV, the offline engine) and first connections are one-time costs.
        warm = make_inputs(folder / "warm", 1)
        asyncio.run(_case(fake.url, TEST_KEY, *warm, folder / "warm" / "out", "cleanup", 1))
        fake.latency = LATENCY
        for engine, concurrency in cases:
            out = folder / f"out-{engine}-{concurrency}"
            seconds = asyncio.run(_case(fake.url, TEST_KEY, images, mask, out, engine, concurrency))
            ideal = count * per_image_latency(engine, poll) / concurrency
            rows.append(
                {
                    "engine": engine,
                    "concurrency": concurrency,
                    "images": count,
                    "latency_s": LATENCY,
                    "seconds": round(seconds, 2),
                    "ideal_s": round(ideal, 2),
                    "ratio": round(seconds / ideal, 3),
                    "images_per_s": round(count / seconds, 2),
                    "target": (
                        ("met" if seconds / ideal <= TARGET_RATIO else "MISSED")
                        if (engine, concurrency) == ("cleanup", 8)
                        else ("baseline" if concurrency == 1 else "info")
                    ),
                }
            )
            print(f"  {engine:8} x{concurrency}: {seconds:6.2f} s", file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    header = "| engine | concurrency | images | seconds | ideal s | ratio | images/s | target (<= 1.3x) |"
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['concurrency']} | {r['images']} | {r['seconds']:.2f} | {r['ideal_s']:.2f} "
            f"| {r['ratio']:.2f}x | {r['images_per_s']:.1f} | {r['target']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run and print the table and the command that reproduces it."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_batch", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="24 images instead of 100")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    print(table(rows))
    command = COMMAND + (" --quick" if args.quick else "")
    print(f"\nFake server latency {LATENCY} s per API answer. Reproduce: {command}")


if __name__ == "__main__":
    main()
