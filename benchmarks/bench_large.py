"""Photos above Novita's limits: a crop around the mask (ours) vs the whole photo shrunk to fit (before).

For 24, 48 and 100 MP JPEGs with a 1 % mask in one blob and in two blobs far apart, one ``cleanup`` each
against the fake server: bytes sent, client time (the whole ``Service.remove``), peak memory over the
process's resident size before the call, and the scale the removed area was processed at. "before" runs
the code as it was before the crop (commit ``BASELINE``, unpacked with ``git archive``) in the same run;
each measurement is a fresh process, so peaks do not mix.

    .venv/bin/python -m benchmarks.bench_large [--quick]
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tests.fake_novita import TEST_KEY, FakeNovita, running_fake_novita
from tests.images import encode, photo_like

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ".venv/bin/python -m benchmarks.bench_large"
BASELINE = "9cf2d0f"  # main before issue 15: whole photo shrunk to 16 MP, result scaled back and pasted
SIZES = {24: (6000, 4000), 48: (8064, 6048), 100: (11547, 8660)}

# Runs in a fresh interpreter with either tree first on sys.path.
_CHILD = """
import asyncio, json, resource, sys, time
from novita_ui.config import Settings
from novita_ui.service import RemoveRequest, Service
url, image, mask = sys.argv[1:4]
data, mask_file = open(image, "rb").read(), open(mask, "rb").read()
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
async def main():
    service = Service(Settings.load(env={}, api_key=sys.argv[4], base_url=url))
    try:
        return await service.remove(RemoveRequest(engine="cleanup", image=data, mask_file=mask_file))
    finally:
        await service.aclose()
before = rss()
started = time.perf_counter()
result = asyncio.run(main())
seconds = time.perf_counter() - started
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent (fork + exec); VmHWM is this process's.
status = open("/proc/self/status").read()
peak = int(status.split("VmHWM:")[1].split()[0]) * 1024
region = getattr(result, "region", None)
print(json.dumps({"seconds": seconds, "peak_mb": (peak - before) / 2**20,
                  "box": list(region.box) if region else None}))
"""


def _baseline_tree(folder: Path) -> Path | None:
    """The package as it was before the crop, or None when git cannot provide it (then: no baseline)."""
    target = folder / "baseline"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", BASELINE, "novita_ui"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def _masks(width: int, height: int) -> dict[str, np.ndarray]:
    """1 % of the photo: one square blob, or two half-size blobs a quarter and three quarters across."""
    one = np.zeros((height, width), np.uint8)
    side = int(math.sqrt(0.01 * width * height))
    x, y = width // 2 - side // 2, height // 2 - side // 2
    one[y : y + side, x : x + side] = 255
    two = np.zeros_like(one)
    half = int(side / math.sqrt(2))
    for cx, cy in ((width // 4, height // 4), (3 * width // 4, 3 * height // 4)):
        two[cy - half // 2 : cy + half // 2, cx - half // 2 : cx + half // 2] = 255
    return {"one blob": one, "two blobs": two}


def _measure(fake: FakeNovita, tree: Path, image: Path, mask: Path) -> dict[str, Any]:
    fake.clear()
    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [sys.executable, "-c", _CHILD, fake.url, str(image), str(mask), TEST_KEY]
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=True, cwd=tree)
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    (submit,) = fake.requests_to("/v3/cleanup")
    width, height = submit.extras["image_size"]
    box = out["box"] or [0, 0, *_size(image)]
    out.update(
        bytes=submit.extras["image_bytes"], sent=f"{width} x {height}", scale=width / (box[2] - box[0])
    )
    return out


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def measure(quick: bool) -> list[dict[str, Any]]:
    """One row per photo size and mask: ours and before, side by side."""
    sizes = (24, 48) if quick else (24, 48, 100)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_large_") as temp, running_fake_novita() as fake:
        folder = Path(temp)
        baseline = _baseline_tree(folder)
        for mp in sizes:
            width, height = SIZES[mp]
            image = folder / f"photo-{mp}.jpg"
            image.write_bytes(encode(photo_like(width, height, seed=mp), quality=92))
            for label, mask_pixels in _masks(width, height).items():
                mask = folder / f"mask-{mp}-{label.replace(' ', '-')}.png"
                mask.write_bytes(encode(mask_pixels, "PNG"))
                row: dict[str, Any] = {"megapixels": mp, "mask": label, "file_mb": image.stat().st_size / 1e6}
                row["ours"] = _measure(fake, ROOT, image, mask)
                row["before"] = None if baseline is None else _measure(fake, baseline, image, mask)
                rows.append(row)
                print(f"  {mp} MP, {label}: done", file=sys.stderr, flush=True)
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Figure rows for ``make bench``: the issue's targets on the single-blob 48 and 100 MP photos."""
    out = []
    for row in measure(quick):
        ours, before = row["ours"], row["before"]
        name = f"{row['megapixels']} MP, 1% mask, {row['mask']}"
        targeted = row["mask"] == "one blob" and row["megapixels"] >= 48
        ratio = ours["bytes"] / before["bytes"] if before else float("nan")
        peak_ok = before is None or ours["peak_mb"] <= before["peak_mb"]
        ok = ours["scale"] == 1.0 and ratio <= 0.4 and peak_ok if targeted else True
        out.append(
            {
                "figure": f"{name}: scale, bytes sent, peak MB, client s",
                "value": f"{ours['scale']:.2f}, {ours['bytes'] / 1e6:.1f} MB ({ratio:.0%}), "
                f"{ours['peak_mb']:.0f}, {ours['seconds']:.1f}",
                "target": "scale 1.0, bytes <= 40 %, peak <= before" if targeted else "-",
                "baseline": "-"
                if before is None
                else f"{before['scale']:.2f}, {before['bytes'] / 1e6:.1f} MB, "
                f"{before['peak_mb']:.0f}, {before['seconds']:.1f}",
                "ok": ok,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    from benchmarks.bench_client import cli

    header = (
        f"before = commit {BASELINE} (whole photo shrunk to fit); value / baseline = scale, bytes, peak, time"
    )
    return cli(argv, run, COMMAND, __doc__, "24 and 48 MP only", header)


if __name__ == "__main__":
    sys.exit(main())
