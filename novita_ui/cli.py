"""Command-line front end. Exit codes: 0 success, 1 the remote side failed, 2 bad usage or bad input.

The key comes from NOVITA_API_KEY only: a key on the command line would show in process lists.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

EXIT_OK, EXIT_REMOTE, EXIT_USAGE = 0, 1, 2
# Subcommands are verbs; the engine names they run are normalise.ENGINES.
ENGINE_OF_COMMAND = {"erase": "eraser", "cleanup": "cleanup", "remove-text": "remove-text", "local": "local"}
NO_KEY = (
    "error: {command} needs a Novita API key: set NOVITA_API_KEY (export NOVITA_API_KEY=sk_...), "
    "never on the command line. {key_help}. "
    "The local command works without a key."
)


def _add_common(parser: argparse.ArgumentParser, *, mask_required: bool) -> None:
    parser.add_argument(
        "image", type=Path, help="photo to clean (JPEG, PNG, WebP, HEIC, AVIF, BMP, TIFF, GIF)"
    )
    parser.add_argument("--mask", type=Path, required=mask_required, help="mask image: white = remove")
    parser.add_argument(
        "--format",
        choices=("jpeg", "png", "webp"),
        help="output format (default: from --output's suffix, .jpg/.png/.webp; else jpeg)",
    )
    add_grow_flags(parser, "the mask")
    parser.add_argument(
        "--lossy-webp",
        action="store_true",
        help="WebP output from a lossless source: lossy (smaller) instead of lossless",
    )
    parser.add_argument("--output", "-o", type=Path, required=True, help="where to write the result")


def add_grow_flags(parser: argparse.ArgumentParser, what: str) -> None:
    """--grow PX (negative shrinks) and --shrink PX, for every command that takes a mask."""
    parser.add_argument(
        "--grow", type=int, default=0, metavar="PX", help=f"grow {what} by PX pixels (negative: shrink)"
    )
    parser.add_argument(
        "--shrink", type=int, default=0, metavar="PX", help=f"shrink {what} by PX pixels (as --grow -PX)"
    )


def _add_select(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chooser = commands.add_parser(
        "select",
        help="mask of the object inside a box (offline, no key): white = the object",
        description="Write a mask of the object inside --box, following its outline (OpenCV GrabCut, "
        "offline). The mask has the photo's full size: pass it to erase/cleanup/local --mask or batch.",
    )
    chooser.add_argument("image", type=Path, help="the photo (JPEG, PNG, WebP, HEIC, AVIF, BMP, TIFF, GIF)")
    chooser.add_argument(
        "--box", required=True, metavar="X0,Y0,X1,Y1", help="a box around the object, in pixels"
    )
    chooser.add_argument(
        "--seed", type=Path, help="optional mask of strokes on the object (white = surely the object)"
    )
    add_grow_flags(chooser, "the selection")
    chooser.add_argument("--output", "-o", type=Path, required=True, help="where to write the mask (PNG)")


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m novita_ui",
        epilog="novita-ui with no command starts the web app, like novita-ui serve.",
        description="Remove objects from photos with Novita AI (NOVITA_API_KEY) or offline.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # `serve` is dispatched before parsing (main): its flags are the web app's (novita_ui.serve).
    commands.add_parser("serve", help="start the web app (its flags: serve --help)", add_help=False)
    erase = commands.add_parser("erase", help="Novita image-eraser: mask and/or prompt")
    _add_common(erase, mask_required=False)
    erase.add_argument("--prompt", help="what to remove, e.g. 'dog'")
    cleanup = commands.add_parser("cleanup", help="Novita cleanup: mask")
    _add_common(cleanup, mask_required=True)
    for remote in (erase, cleanup):
        remote.add_argument(
            "--whole-photo",
            action="store_true",
            help="above Novita's 16 MP / 30 MB, send the whole photo downscaled instead of a "
            "full-resolution crop around the mask (also NOVITA_UI_SEND_WHOLE_PHOTO=1)",
        )
    cleanup.add_argument("--enterprise-plan", action="store_true", help="use a dedicated enterprise endpoint")
    text = commands.add_parser("remove-text", help="Novita remove-text: every caption, sign, date (no mask)")
    text.add_argument("image", type=Path, help="photo to clean (JPEG, PNG, WebP, HEIC, AVIF, BMP, TIFF, GIF)")
    text.add_argument(
        "--format", choices=("jpeg", "png", "webp"), help="output format (default: from --output)"
    )
    text.add_argument("--lossy-webp", action="store_true", help="WebP from a lossless source: lossy")
    text.add_argument("--output", "-o", type=Path, required=True, help="where to write the result")
    offline = commands.add_parser("local", help="offline engine, no key and no network")
    _add_common(offline, mask_required=True)
    offline.add_argument(
        "--method",
        choices=("auto", "patchmatch", "telea"),
        help="inpainting method (default auto, as the web app's Offline quality: telea for thin strokes, "
        "patchmatch for wide areas)",
    )
    offline.add_argument("--prompt", help=argparse.SUPPRESS)  # accepted only to explain it cannot work
    _add_select(commands)
    from novita_ui.batch import add_batch_parser  # lazy: keeps `--help` of the other commands light

    add_batch_parser(commands)
    return parser


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SystemExit(_fail(f"error: {what} not found: {path}", EXIT_USAGE)) from None
    except IsADirectoryError:
        raise SystemExit(_fail(f"error: {what} is a folder, not a file: {path}", EXIT_USAGE)) from None
    except OSError as error:
        raise SystemExit(_fail(f"error: cannot read {what} {path}: {error.strerror}", EXIT_USAGE)) from None


def _fail(message: str, code: int, stream: TextIO | None = None) -> int:
    print(message, file=stream or sys.stderr)
    return code


class _ProgressPrinter:
    """Task progress on stderr, one line per change."""

    def __init__(self) -> None:
        self._last = ""

    def __call__(self, progress: object) -> None:
        from novita_ui.novita.client import TaskProgress

        assert isinstance(progress, TaskProgress)
        if progress.status == "failed":
            return  # the error line that follows says it, with the reason
        if progress.note:  # a retry, a failed check, a task created
            self._print(progress.note)
            return
        parts = [f"task {progress.task_id}: {progress.status}"]
        if progress.percent is not None and progress.status == "processing":
            parts.append(f"{progress.percent:.0f}%")
        if progress.eta and progress.status in ("queued", "processing"):
            parts.append(f"about {progress.eta:.0f} s left")
        self._print(", ".join(parts))

    def _print(self, line: str) -> None:
        if line != self._last:
            print(line, file=sys.stderr, flush=True)
            self._last = line


async def _run_single(args: argparse.Namespace) -> int:
    from novita_ui.config import Settings
    from novita_ui.normalise import grow_from, output_format_for
    from novita_ui.pixels.imaging import OutputFormat
    from novita_ui.runtime.storage import write_atomic
    from novita_ui.service import RemoveRequest, Service

    default_format: OutputFormat = "png" if args.command == "cleanup" else "jpeg"
    output_format = output_format_for(args.output, args.format, default_format)  # before any work
    image = _read(args.image, "image")
    mask = _read(args.mask, "mask") if getattr(args, "mask", None) else None
    request = RemoveRequest.from_raw(
        engine=ENGINE_OF_COMMAND[args.command],
        image=image,
        mask_file=mask,
        prompt=getattr(args, "prompt", None),
        output_format=output_format,
        grow=grow_from(getattr(args, "grow", 0), getattr(args, "shrink", 0)),
        enterprise_plan=getattr(args, "enterprise_plan", False),
        method=getattr(args, "method", None),
        lossless_webp=False if args.lossy_webp else None,
        whole_photo=True if getattr(args, "whole_photo", False) else None,
    )
    service = Service(Settings.load())
    try:
        if request.engine == "local":
            print(f"Removing offline ({request.method})...", file=sys.stderr, flush=True)
        result = await service.remove(request, on_progress=_ProgressPrinter())
    finally:
        await service.aclose()
    write_atomic(args.output, result.data)
    how = f", offline with {result.method}" if result.method else ""
    print(f"Saved {args.output} ({result.size[0]} x {result.size[1]}, {result.format}{how})", file=sys.stderr)
    if result.note:
        print(result.note, file=sys.stderr)
    return EXIT_OK


async def _run_select(args: argparse.Namespace) -> int:
    from novita_ui.config import Settings
    from novita_ui.normalise import grow_from
    from novita_ui.pixels.select import Box
    from novita_ui.runtime.storage import write_atomic
    from novita_ui.service import Service

    box = Box.parse(args.box)
    image = _read(args.image, "image")
    seed = _read(args.seed, "seed mask") if args.seed else None
    service = Service(Settings.load(), processes=False)
    try:
        found = await service.select(image, box, seed=seed, grow=grow_from(args.grow, args.shrink))
    finally:
        await service.aclose()
    write_atomic(args.output, found.png)
    w, h = found.size
    print(f"Saved {args.output} ({w} x {h}, the object is {found.share:.1%} of the photo)", file=sys.stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None, prog: str = "python -m novita_ui") -> int:
    """Entry point for ``python -m novita_ui``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        from novita_ui.serve import main as serve

        return serve(argv[1:], prog=f"{prog} serve")
    parser = build_parser()
    parser.prog = prog
    args = parser.parse_args(argv)
    from novita_ui.errors import InputError, MissingAPIKeyError, NovitaUIError

    try:
        if args.command == "batch":
            from novita_ui.batch import run_batch

            return run_batch(args)
        if args.command == "select":
            return asyncio.run(_run_select(args))
        return asyncio.run(_run_single(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except MissingAPIKeyError:  # its message is the page's; a command line has no key field to type into
        from novita_ui.novita.wire import KEY_HELP

        return _fail(NO_KEY.format(command=args.command, key_help=KEY_HELP), EXIT_USAGE)
    except InputError as error:
        return _fail(f"error: {error}", EXIT_USAGE)
    except NovitaUIError as error:
        return _fail(f"error: {error}", EXIT_REMOTE)
    except ValueError as error:  # Settings.load: a malformed environment variable
        return _fail(f"error: {error}", EXIT_USAGE)
    except OSError as error:
        return _fail(f"error: cannot write {args.output}: {error.strerror or error}", EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def entry() -> int:
    """The ``novita-ui`` command: no arguments starts the web app; otherwise as ``python -m novita_ui``."""
    argv = sys.argv[1:]
    return main(argv or ["serve"], prog="novita-ui")
