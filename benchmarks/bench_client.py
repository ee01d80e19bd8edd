"""Client overhead and polling delay against the fake Novita server, side by side with naive baselines.

Client-side time = from calling ``erase`` to the POST arriving at the server (preparation: mask encoding,
base64, JSON), plus from the result download arriving at the object store to ``erase`` returning (result
handling: transfer, decode check). The fake server runs in this process, so its arrival timestamps share our
clock; its own processing time and the poll waits are excluded.

    .venv/bin/python -m benchmarks.bench_client [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from novita_ui.config import Settings
from novita_ui.novita.client import NovitaClient
from novita_ui.pixels import imaging
from tests.fake_novita import TEST_KEY, FakeNovita, TaskPlan, running_fake_novita
from tests.images import box_mask, photo_like

COMMAND = ".venv/bin/python -m benchmarks.bench_client"


def _photo_16mp() -> tuple[bytes, np.ndarray]:
    pixels = photo_like(4608, 3456, seed=1)  # 15.9 MP
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=92)
    return buffer.getvalue(), box_mask(4608, 3456, (2000, 1500, 2300, 1800))


def _settings(fake: FakeNovita, **overrides: Any) -> Settings:
    return Settings.load(env={}, api_key=TEST_KEY, base_url=fake.url, **overrides)


async def _one_erase(
    fake: FakeNovita, client: NovitaClient, image: bytes, mime: str, mask_png: bytes
) -> dict[str, float]:
    fake.clear()
    started = time.monotonic()
    await client.erase(image, mime=mime, mask=mask_png, output_format="jpeg")
    ended = time.monotonic()
    submit = fake.requests_to("/v3/async/image-eraser")[0]
    download = fake.requests_to("/results/")[-1]
    return {"prepare": submit.time - started, "result": ended - download.time}


async def client_overhead(runs: int) -> list[dict[str, Any]]:
    """Our path (own bytes + 8-bit mask PNG) vs the naive one (decode, re-encode as PNG)."""
    data, mask = _photo_16mp()
    rows = []
    with running_fake_novita() as fake:
        async with NovitaClient(_settings(fake, poll_min_interval=0.0)) as client:
            for label in ("ours", "naive"):
                times, sent, parts_seen = [], 0, []
                for _ in range(runs):
                    t0 = time.monotonic()
                    if label == "ours":
                        # What the service does before the client: header-only checks, then the payload.
                        photo = imaging.open_photo(data)
                        t_decode = time.monotonic() - t0
                        payload = imaging.prepare_payload(photo, mask)
                        image, mime, mask_png = payload.image, payload.mime, payload.mask or b""
                        extra = time.monotonic() - t0 - t_decode
                    else:
                        buffer = io.BytesIO()
                        Image.open(io.BytesIO(data)).save(buffer, "PNG")
                        image, mime = buffer.getvalue(), "image/png"
                        mask_png = imaging.encode_mask(mask)
                        extra = time.monotonic() - t0
                    parts = await _one_erase(fake, client, image, mime, mask_png)
                    times.append(extra + parts["prepare"] + parts["result"])
                    parts_seen.append((extra, parts["prepare"], parts["result"]))
                    body = {
                        "image": f"data:{mime};base64," + base64.b64encode(image).decode(),
                        "mask": "data:image/png;base64," + base64.b64encode(mask_png).decode(),
                    }
                    sent = len(json.dumps(body))
                rows.append(
                    {
                        "path": label,
                        "client_ms": 1000 * statistics.median(times),
                        "sent_mb": sent / 1e6,
                        "ratio": sent / len(data),
                        "file_mb": len(data) / 1e6,
                        "split": "payload {:.0f} + send {:.0f} + result {:.0f} ms".format(
                            *(1000 * x for x in min(parts_seen, key=sum))
                        ),
                    }
                )
    return rows


async def _poll_until_done(
    fake: FakeNovita, settings: Settings, duration: float, image: bytes
) -> dict[str, float]:
    async with NovitaClient(settings) as client:
        result = await client.erase(image, mask=imaging.encode_mask(box_mask(64, 48, (5, 5, 20, 20))))
        in_hand = time.monotonic()
    task = fake.tasks[result.task_id or ""]
    polls = [r for r in fake.requests_to("/v3/async/task-result") if r.query.get("task_id") == task.task_id]
    return {
        "delay": in_hand - (task.created + duration),
        "polls_per_s": len(polls) / (in_hand - task.created),
    }


async def polling(duration: float, tasks: int, stuck_eta: bool = False) -> list[dict[str, Any]]:
    """Delay from a task's end to its image in hand, and poll rate: ours vs fixed intervals.

    ``stuck_eta``: Novita's eta says 1 s all along (a wrong estimate must not make us poll faster)."""
    buffer = io.BytesIO()
    Image.fromarray(photo_like(64, 48)).save(buffer, "JPEG")
    variants = {
        "ours (adaptive, ETA-guided)": {},
        "fixed 0.5 s (python SDK)": {"poll_min_interval": 0.5, "poll_max_interval": 0.5},
        "fixed 3 s (Novita CLI)": {"poll_min_interval": 3.0, "poll_max_interval": 3.0},
    }
    with running_fake_novita() as fake:
        fake.task_plan = TaskPlan(duration=duration, fixed_eta=1 if stuck_eta else None)
        jobs = {
            name: [
                _poll_until_done(fake, _settings(fake, **kw), duration, buffer.getvalue())
                for _ in range(tasks)
            ]
            for name, kw in variants.items()
        }
        flat = [job for group in jobs.values() for job in group]
        results = await asyncio.gather(*flat)
    rows, index = [], 0
    for name in variants:
        group = results[index : index + tasks]
        index += tasks
        rows.append(
            {
                "variant": name,
                "median_delay_ms": 1000 * statistics.median(r["delay"] for r in group),
                "polls_per_s": statistics.mean(r["polls_per_s"] for r in group),
            }
        )
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    """All figures as rows: figure, value, target, baseline (for ``make bench``)."""
    overhead = asyncio.run(client_overhead(1 if quick else 3))
    duration = 3.0 if quick else 10.0
    poll_rows = asyncio.run(polling(duration, 3 if quick else 5))
    stuck_rows = asyncio.run(polling(duration, 3 if quick else 5, stuck_eta=True))
    ours, naive = overhead
    mine, sdk = poll_rows[0], poll_rows[1]
    stuck, stuck_sdk = stuck_rows[0], stuck_rows[1]
    details = (
        [
            {
                "figure": f"  detail: {r['path']} path",
                "value": f"{r['client_ms']:.0f} ms",
                "baseline": r["split"],
            }
            for r in overhead
        ]
        + [
            {
                "figure": f"  detail: {r['variant']}",
                "value": f"{r['median_delay_ms']:.0f} ms delay",
                "baseline": f"{r['polls_per_s']:.2f} polls/s",
            }
            for r in poll_rows
        ]
        + [
            {
                "figure": f"  detail: {r['variant']}, eta stuck at 1 s",
                "value": f"{r['median_delay_ms']:.0f} ms delay",
                "baseline": f"{r['polls_per_s']:.2f} polls/s",
            }
            for r in stuck_rows
        ]
    )
    return [
        {
            "figure": "client overhead, 16 MP JPEG (ms)",
            "value": round(ours["client_ms"]),
            "target": "<= 150",
            "baseline": f"{naive['client_ms']:.0f} (decode + PNG)",
            "ok": ours["client_ms"] <= 150,
        },
        {
            "figure": "bytes sent / file size",
            "value": round(ours["ratio"], 3),
            "target": "<= 1.37",
            "baseline": f"{naive['ratio']:.2f} ({naive['sent_mb']:.1f} MB)",
            "ok": ours["ratio"] <= 1.37,
        },
        {
            "figure": f"poll delay after a {duration:.0f} s task, median (ms)",
            "value": round(mine["median_delay_ms"]),
            "target": "<= 300",
            "baseline": f"{sdk['median_delay_ms']:.0f} (fixed 0.5 s)",
            "ok": mine["median_delay_ms"] <= 300,
        },
        {
            "figure": "polls per second while waiting",
            "value": round(mine["polls_per_s"], 2),
            "target": "<= 1",
            "baseline": f"{sdk['polls_per_s']:.2f} (fixed 0.5 s)",
            "ok": mine["polls_per_s"] <= 1,
        },
        {
            "figure": "polls per second, eta stuck at 1 s",
            "value": round(stuck["polls_per_s"], 2),
            "target": "<= 1",
            "baseline": f"{stuck_sdk['polls_per_s']:.2f} (fixed 0.5 s)",
            "ok": stuck["polls_per_s"] <= 1,
        },
        *({**row, "target": "", "ok": True} for row in details),
    ]


def cli(
    argv: list[str] | None,
    run: Callable[[bool], list[dict[str, Any]]],
    command: str,
    doc: str | None,
    quick_help: str,
    header: str = "",
) -> int:
    """A benchmark's command line: --quick, the table, the command; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    args = parser.parse_args(argv)
    rows = run(args.quick)
    if header:
        print(header)
    print_table(rows, command + (" --quick" if args.quick else ""))
    return 0 if all(r["ok"] for r in rows) else 1


def print_table(rows: list[dict[str, Any]], command: str) -> None:
    """Markdown table plus the command that produced it."""
    print("| figure | value | target | baseline (same run) | ok |")
    print("|---|---|---|---|---|")
    for r in rows:
        ok = "yes" if r["ok"] else "NO"
        print(f"| {r['figure']} | {r['value']} | {r['target']} | {r['baseline']} | {ok} |")
    print(f"\nReproduce: {command}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer runs, a 3 s task")
    args = parser.parse_args(argv)
    print_table(run(args.quick), COMMAND + (" --quick" if args.quick else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
