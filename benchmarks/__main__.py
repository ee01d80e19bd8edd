"""``make bench``: every benchmark in one table: each figure, its target, and a baseline from the same run.

    .venv/bin/python -m benchmarks [--quick] [--only NAME ...]

Each module keeps its own detailed table (run it alone for that); this prints the figures that have targets.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import psutil

Row = dict[str, Any]


def _client(quick: bool) -> list[Row]:
    from benchmarks import bench_client

    return [r for r in bench_client.run(quick) if not str(r["figure"]).startswith("  detail")]


def _local(quick: bool) -> list[Row]:
    from benchmarks import bench_local
    from novita_ui.pixels import local

    rows = bench_local.run(quick)

    def pick(method: str, strategy: str, pct: float) -> Row:
        return next(r for r in rows if (r["method"], r["strategy"], r["mask_pct"]) == (method, strategy, pct))

    mp = rows[0].get("megapixels", 12)
    default = pick(local.DEFAULT_METHOD, "crop", 2.0)
    whole = pick(local.DEFAULT_METHOD, "whole", 2.0)
    out = [
        {
            "figure": f"offline {local.DEFAULT_METHOD}, {mp:g} MP, 2% mask (s)",
            "value": default["seconds"],
            "target": "<= 2",
            "baseline": f"{whole['seconds']:.2f} (whole frame)",
            "ok": default["seconds"] <= 2,
        }
    ]
    for method in local.METHODS:
        crop, full = pick(method, "crop", 0.5), pick(method, "whole", 0.5)
        ratio = full["seconds"] / crop["seconds"]
        out.append(
            {
                "figure": f"offline {method}: crop speed-up, 0.5% mask",
                "value": f"{ratio:.1f}x",
                "target": ">= 5x",
                "baseline": f"{full['seconds']:.2f} s whole frame",
                "ok": ratio >= 5,
            }
        )
    worst = min(rows, key=lambda r: r["psnr_db"] - r["mean_fill_psnr_db"])
    margin = worst["psnr_db"] - worst["mean_fill_psnr_db"]
    out.append(
        {
            "figure": "offline quality: worst PSNR margin over mean fill (dB)",
            "value": round(margin, 2),
            "target": "> 0",
            "baseline": f"{worst['mean_fill_psnr_db']:.2f} dB mean fill",
            "ok": margin > 0,
        }
    )
    return out


def _batch(quick: bool) -> list[Row]:
    from benchmarks import bench_batch

    rows = bench_batch.run(quick)
    main = next(r for r in rows if (r["engine"], r["concurrency"]) == ("cleanup", 8))
    base = next(r for r in rows if (r["engine"], r["concurrency"]) == ("cleanup", 1))
    return [
        {
            "figure": f"batch: {main['images']} images, 0.5 s latency, concurrency 8 (s)",
            "value": main["seconds"],
            "target": f"<= 1.3 x ideal {main['ideal_s']:g}",
            "baseline": f"{base['seconds']:.1f} (concurrency 1)",
            "ok": main["ratio"] <= 1.3,
        }
    ]


def _fidelity(quick: bool) -> list[Row]:
    from benchmarks import bench_fidelity

    return [r for r in bench_fidelity.run(quick) if not str(r["figure"]).startswith("  detail")]


def _browser(quick: bool) -> list[Row]:
    from benchmarks import bench_browser

    rows = bench_browser.run(quick)
    naive = next(r for r in rows if r["target"] == "baseline")
    return [
        {
            "figure": f"browser Remove -> result, 12 MP JPEG, {r['path']} (s)"
            + (" beyond the task's time" if "Novita" in r["path"] else ""),
            "value": r["figure_s"],
            "target": f"<= {bench_browser.TARGETS[r['path']]:g}",
            "baseline": f"{naive['remove_to_result_s']:.1f} (naive editor path)",
            "ok": r["figure_s"] <= bench_browser.TARGETS[r["path"]],
        }
        for r in rows
        if r is not naive
    ]


def _module_rows(name: str) -> Callable[[bool], list[Row]]:
    """Benchmarks whose ``run`` already returns figure rows."""

    def rows(quick: bool) -> list[Row]:
        module = importlib.import_module(f"benchmarks.{name}")
        result: list[Row] = module.run(quick)
        return result

    return rows


BENCHES: dict[str, Callable[[bool], list[Row]]] = {
    "client": _client,
    "local": _local,
    "texture": _module_rows("bench_texture"),
    "batch": _batch,
    "app": _module_rows("bench_app"),
    "load": _module_rows("bench_load"),
    "large": _module_rows("bench_large"),
    "memory": _module_rows("bench_memory"),
    "browser": _browser,
    "fidelity": _fidelity,
    "select": _module_rows("bench_select"),
    "editor": _module_rows("bench_editor_frames"),
}


def machine() -> str:
    """Where the figures were measured."""
    memory = psutil.virtual_memory().total / 2**30
    cores = psutil.cpu_count()
    return f"{platform.machine()}, {cores} cores, {memory:.0f} GiB, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark and print one table.")
    parser.add_argument("--quick", action="store_true", help="smaller inputs and fewer runs")
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), help="run just these")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for name in args.only or BENCHES:
        started = time.monotonic()
        print(f"running {name}...", file=sys.stderr, flush=True)
        try:
            rows.extend(BENCHES[name](args.quick))
        except Exception as error:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            rows.append(
                {
                    "figure": f"{name}: FAILED ({type(error).__name__})",
                    "value": "-",
                    "target": "-",
                    "baseline": "-",
                    "ok": False,
                }
            )
        print(f"  {name} took {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    from benchmarks.bench_client import print_table

    print(f"{time.strftime('%Y-%m-%d')} on {machine()}\n")
    command = ".venv/bin/python -m benchmarks" + (" --quick" if args.quick else "")
    if args.only:
        command += " --only " + " ".join(args.only)
    print_table(rows, f"make bench  (or: {command})")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
