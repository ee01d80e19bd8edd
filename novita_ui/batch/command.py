"""The ``batch`` subcommand: its arguments, and the run with its summary line and exit code."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from novita_ui.batch.plan import BatchOptions
from novita_ui.batch.run import run_batch_async
from novita_ui.normalise import ENGINES, grow_from


def add_batch_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``batch`` subcommand."""
    parser = commands.add_parser(
        "batch",
        help="clean every image in a folder",
        description="Clean every image in INPUT_DIR. Masks pair with images by file stem (photo.jpg <- "
        "photo.png, photo_mask.png or photo-mask.png), or one mask file serves every image. Existing outputs "
        "are skipped. Exit codes: 0 all done, 1 some failed, 2 bad usage.",
    )
    parser.add_argument("input_dir", type=Path, metavar="INPUT_DIR", help="folder of images (not recursive)")
    parser.add_argument("--mask", type=Path, metavar="MASK_FILE_OR_DIR", help="a mask for all, or a folder")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        help="default: eraser with a key (remove-text: every image's text, no mask)",
    )
    parser.add_argument("--prompt", help="eraser only: what to remove (images without a mask use it alone)")
    parser.add_argument(
        "--format", choices=("jpeg", "png", "webp"), help="default: the source's; HEIC/AVIF: jpeg; else png"
    )
    parser.add_argument("--output-dir", type=Path, required=True, metavar="OUT", help="where results go")
    parser.add_argument("--concurrency", type=int, metavar="N", help="images at once (4; local: cores)")
    parser.add_argument(
        "--rate", metavar="N/min", help="start at most N images a minute (cleanup, remove-text: 10; none)"
    )
    parser.add_argument("--overwrite", action="store_true", help="redo images whose output exists")
    parser.add_argument(
        "--grow", type=int, default=0, metavar="PX", help="grow every mask by PX pixels (negative: shrink)"
    )
    parser.add_argument("--shrink", type=int, default=0, metavar="PX", help="shrink every mask by PX pixels")


def options_from_args(args: argparse.Namespace) -> BatchOptions:
    """The parsed command line as BatchOptions."""
    return BatchOptions(
        input_dir=args.input_dir,
        output_dir=args.output_dir,
        mask=args.mask,
        engine=args.engine,
        prompt=args.prompt,
        format=args.format,
        concurrency=args.concurrency,
        rate=args.rate,
        overwrite=args.overwrite,
        grow=grow_from(args.grow, args.shrink),
    )


def run_batch(args: argparse.Namespace) -> int:
    """Run a batch; returns the exit code."""
    from novita_ui.config import Settings

    options = options_from_args(args)
    try:
        result = asyncio.run(run_batch_async(options, Settings.load()))
    except OSError as error:  # the reports could not be written
        print(f"error: cannot write to {options.output_dir}: {error.strerror or error}", file=sys.stderr)
        return 1
    counts = result.counts
    print(
        f"Batch finished: {counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed "
        f"in {result.seconds:.1f} s. Report: {options.output_dir / 'report.json'}",
        file=sys.stderr,
    )
    return result.exit_code
