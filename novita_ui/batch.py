"""Batch mode: clean every image in a folder, pairing each with its mask by file stem.

Plan (pure, no network) -> run (bounded concurrency, client-side rate limit, one bad file never stops the
rest) -> report (``report.json`` and ``report.csv`` in the output folder). Outputs that already exist are
skipped, so an interrupted batch resumes where it stopped. Heavy modules load lazily: ``cli`` imports this
one just to register the subcommand.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from novita_ui.errors import InputError  # light: the errors module imports nothing
from novita_ui.normalise import ENGINES, grow_from

if TYPE_CHECKING:
    from novita_ui.config import Settings
    from novita_ui.normalise import Engine
    from novita_ui.pixels.imaging import OutputFormat
    from novita_ui.service import Service

log = logging.getLogger(__name__)

# How mask files are commonly named after their photo; an exact stem always wins over these.
MASK_SUFFIXES = ("_mask", "-mask", ".mask", " mask")
CLEANUP_DEFAULT_RATE = 10 / 60  # Novita's documented default for cleanup and remove-text: 10 images a minute
NOVITA_DEFAULT_CONCURRENCY = 4
REPORT_FIELDS = ("file", "mask", "status", "engine", "seconds", "task_id", "error", "output")
_RATE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*$", re.I)
_PER_SECOND = {"s": 1.0, "sec": 1.0, "second": 1.0, "h": 3600.0, "hour": 3600.0}

Status = Literal["done", "skipped", "failed", "cancelled"]


class RateLimiter:
    """Spaces starts ``1/rate`` apart after an initial ``burst`` (GCRA, i.e. a token bucket).

    Each caller reserves its slot before it sleeps, so concurrent callers need no lock and keep their order.
    """

    def __init__(
        self,
        per_second: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("the rate must be positive and the burst at least 1")
        self.interval = 1.0 / per_second
        self.burst = burst
        self._clock, self._sleep = clock, sleep
        self._tat: float | None = None  # "theoretical arrival time" of the next start

    async def acquire(self) -> float:
        """Wait for the next slot; returns the seconds waited."""
        now = self._clock()
        tat = now if self._tat is None else max(self._tat, now)
        wait = max(0.0, tat - (self.burst - 1) * self.interval - now)
        self._tat = tat + self.interval
        if wait > 0:
            await self._sleep(wait)
        return wait


def parse_rate(text: str) -> float | None:
    """``10/min``, ``10`` (per minute), ``2/s``, ``600/h`` -> images per second; ``none`` -> no limit."""
    if text.strip().lower() in ("none", "off", "unlimited"):
        return None
    match = _RATE.match(text)
    value = float(match.group(1)) if match else 0.0
    if not match or value <= 0:
        raise InputError(f"--rate {text!r} is not a rate: use N/min (or plain N, per minute), N/s, or none.")
    return value / _PER_SECOND.get((match.group(2) or "min").lower(), 60.0)


# ---- plan ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BatchOptions:
    """One batch, as the command line describes it (engine None = eraser with a key, else local)."""

    input_dir: Path
    output_dir: Path
    mask: Path | None = None
    engine: Engine | None = None
    prompt: str | None = None
    format: OutputFormat | None = None  # None: the source's if jpeg/png/webp; HEIC/AVIF: jpeg; else png
    concurrency: int | None = None
    rate: str | None = None
    overwrite: bool = False
    grow: int = 0  # px; negative shrinks every mask
    progress: bool = True


@dataclass(frozen=True)
class Job:
    """One input image: where its mask and output are, or why it cannot run."""

    source: Path
    mask: Path | None
    output: Path
    format: OutputFormat
    problem: str | None = None


@dataclass
class Outcome:
    """One row of the report."""

    file: str
    mask: str = ""
    status: Status = "cancelled"  # until it runs: what an interrupted batch reports for the rest
    engine: str = ""
    seconds: float = 0.0
    task_id: str = ""
    error: str = ""
    output: str = ""

    def fail(self, reason: str) -> Outcome:
        """Mark as failed with ``reason``."""
        self.status, self.error = "failed", reason
        return self


def _files(folder: Path, what: str) -> list[Path]:
    """Visible image files in ``folder`` (not recursive), sorted by name."""
    if not folder.is_dir():
        raise InputError(f"{what} {folder} {'is not a folder' if folder.exists() else 'not found'}.")
    try:
        entries = sorted(folder.iterdir())
    except OSError as error:
        raise InputError(f"cannot read {what} {folder}: {error.strerror or error}") from None
    visible = (p for p in entries if not p.name.startswith("."))
    from novita_ui.pixels.formats import INPUT_SUFFIXES

    return [p for p in visible if p.suffix.lower() in INPUT_SUFFIXES and p.is_file()]


def _strip_mask_suffix(stem: str) -> str | None:
    folded = stem.casefold()
    return next((stem[: -len(s)] for s in MASK_SUFFIXES if folded.endswith(s) and len(stem) > len(s)), None)


def match_mask(stem: str, masks: Mapping[str, Path]) -> Path | None:
    """The mask for ``stem``: exact stem, then ``stem_mask`` and kin; case-insensitively as a last resort."""
    names = [stem, *(stem + suffix for suffix in MASK_SUFFIXES)]
    for name in names:
        if name in masks:
            return masks[name]
    folded = {key.casefold(): path for key, path in reversed(list(masks.items()))}
    return next((folded[n.casefold()] for n in names if n.casefold() in folded), None)


def _sources_and_masks(options: BatchOptions) -> tuple[list[Path], dict[str, Path] | None]:
    images = _files(options.input_dir, "input folder")
    if options.output_dir.resolve() == options.input_dir.resolve():  # earlier outputs are not inputs
        images = [p for p in images if not p.stem.endswith("-cleaned")]
    if options.mask is None or not options.mask.is_dir():
        return images, None
    if options.mask.resolve() == options.input_dir.resolve():
        # Photos and masks side by side: photo.jpg + photo_mask.png. A photo must not be its own mask.
        masks = [p for p in images if _strip_mask_suffix(p.stem)]
        images = [p for p in images if not _strip_mask_suffix(p.stem)]
    else:
        masks = _files(options.mask, "mask folder")
    if not masks:
        from novita_ui.pixels.formats import ACCEPTED

        raise InputError(f"the mask folder {options.mask} holds no masks ({ACCEPTED}).")
    index: dict[str, Path] = {}
    for path in masks:
        index.setdefault(path.stem, path)  # two masks with one stem: the first by name
    return images, index


def plan_batch(options: BatchOptions, engine: Engine) -> list[Job]:
    """Pair images with masks and outputs; raises InputError for usage problems (CLI exit 2)."""
    from novita_ui.normalise import format_for_path, mask_or_prompt_problem, text_or_none
    from novita_ui.pixels.formats import ACCEPTED, PHONE_SUFFIXES
    from novita_ui.service import output_name

    images, masks = _sources_and_masks(options)
    if not images:
        raise InputError(f"no images in {options.input_dir} ({ACCEPTED}).")
    prompt_only = mask_or_prompt_problem(engine, False, text_or_none(options.prompt)) is None
    jobs: list[Job] = []
    taken: dict[str, str] = {}
    for source in images:
        # A phone photo (HEIC, AVIF) comes back as JPEG, any other source it cannot be written as as PNG.
        fallback: OutputFormat = "jpeg" if source.suffix.lower() in PHONE_SUFFIXES else "png"
        fmt = options.format or format_for_path(source, fallback)
        output = options.output_dir / output_name(source.name, fmt)
        mask = options.mask if masks is None else match_mask(source.stem, masks)
        problem = None
        if masks is not None and mask is None and not prompt_only:
            problem = f"no mask named {source.stem}.* in {options.mask}"
        if output.name in taken:
            problem = f"its output {output.name} is already the output of {taken[output.name]}; rename one"
        taken.setdefault(output.name, source.name)
        jobs.append(Job(source, mask, output, fmt, problem))
    return jobs


def _check_options(options: BatchOptions, engine: Engine, settings: Settings) -> None:
    """Usage problems that concern the whole batch, found before any work starts."""
    from novita_ui.normalise import mask_or_prompt_problem, text_or_none

    prompt = text_or_none(options.prompt)
    if prompt and engine != "eraser":
        hint = " Set NOVITA_API_KEY to use it." if not settings.api_key else ""
        raise InputError(f"--prompt works only with the Novita eraser (engine: {engine}).{hint}")
    if engine == "remove-text" and options.mask is not None:
        raise InputError("remove-text takes no --mask: Novita finds the text itself. Leave --mask out.")
    if mask_or_prompt_problem(engine, options.mask is not None, prompt):
        raise InputError("give --mask (a mask file or a folder of masks), or --prompt with the eraser.")
    if options.mask is not None and not options.mask.exists():
        raise InputError(f"mask {options.mask} not found.")
    if engine != "local" and not settings.api_key:
        raise InputError(
            f"the {engine} engine needs a Novita key: set NOVITA_API_KEY, or use --engine local."
        )
    if options.concurrency is not None and options.concurrency < 1:
        raise InputError("--concurrency must be at least 1.")


def _read_single_mask(path: Path) -> bytes:
    from novita_ui.pixels import results

    try:
        data = path.read_bytes()
        results.probe_image(data)
    except OSError as error:
        raise InputError(f"cannot read mask {path}: {error.strerror or error}") from None
    except ValueError:
        raise InputError(f"mask {path} is not an image this app can read.") from None
    return data


# ---- run -------------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """What every worker shares."""

    options: BatchOptions
    engine: Engine
    service: Service
    semaphore: asyncio.Semaphore
    limiter: RateLimiter | None
    shared_mask: bytes | None
    on_done: Callable[[Outcome], None]
    fatal: str | None = None  # set once the key is rejected: nothing else can succeed


async def _clean_one(run: _Run, job: Job, outcome: Outcome) -> str | None:
    """Read, clean and write one image; returns Novita's task id, if any.

    A task's id goes into ``outcome`` the moment Novita creates it, so the report names a paid task even when
    it fails or times out later.
    """
    from novita_ui.novita.client import TaskProgress
    from novita_ui.runtime.storage import write_atomic
    from novita_ui.service import RemoveRequest

    def note_task(progress: TaskProgress) -> None:
        if progress.status == "created" and progress.task_id:
            outcome.task_id = progress.task_id

    image = await asyncio.to_thread(job.source.read_bytes)
    mask = run.shared_mask
    if mask is None and job.mask is not None:
        mask = await asyncio.to_thread(job.mask.read_bytes)
    request = RemoveRequest(
        engine=run.engine,
        image=image,
        mask_file=mask,
        prompt=run.options.prompt,
        output_format=job.format,
        grow=run.options.grow,
    )
    result = await run.service.remove(request, note_task)
    await asyncio.to_thread(write_atomic, job.output, result.data)
    return result.task_id


async def _process(run: _Run, job: Job, outcome: Outcome) -> None:
    """Clean one image into ``outcome``; every failure becomes a reason, never an exception."""
    from novita_ui.errors import AuthenticationError, BadRequestError, RemoteError, TaskError

    async with run.semaphore:
        if run.fatal:
            run.on_done(outcome.fail(run.fatal))
            return
        if run.limiter is not None:
            await run.limiter.acquire()
            if run.fatal:  # the key was rejected while this one waited for its slot
                run.on_done(outcome.fail(run.fatal))
                return
        started = time.perf_counter()
        try:
            task_id = await _clean_one(run, job, outcome)
        except (InputError, RemoteError) as error:
            outcome.fail(str(error))
            if isinstance(error, TaskError):
                outcome.task_id = error.task_id
            billing = isinstance(error, BadRequestError) and error.reason == "BILLING_BALANCE_NOT_ENOUGH"
            if isinstance(error, AuthenticationError) or billing:
                run.fatal = f"not run: {error}"
        except OSError as error:
            outcome.fail(f"cannot read or write a file: {error.strerror or error}")
        except Exception as error:  # a bug must cost one image, not the batch; the log has the traceback
            log.exception("batch: %s failed unexpectedly", job.source.name)
            outcome.fail(f"unexpected error ({type(error).__name__}); see the log")
        else:
            outcome.status, outcome.task_id, outcome.output = "done", task_id or "", str(job.output)
        outcome.seconds = round(time.perf_counter() - started, 3)
        run.on_done(outcome)


def _initial_outcome(job: Job, engine: Engine, overwrite: bool) -> Outcome:
    outcome = Outcome(job.source.name, mask=job.mask.name if job.mask else "", engine=engine)
    if job.output.exists() and not overwrite:
        outcome.status, outcome.output = "skipped", str(job.output)
    elif job.problem:
        outcome.fail(job.problem)
    return outcome


def _progress(total: int, enabled: bool) -> tuple[Callable[[Outcome], None], Callable[[], None]]:
    """(on_done, close) for a tqdm bar on stderr: done and ETA, failures in the postfix and by name."""
    from tqdm import tqdm

    bar = tqdm(total=total, file=sys.stderr, unit="img", desc="Cleaning", disable=not enabled or not total)
    failed = 0

    def on_done(outcome: Outcome) -> None:
        nonlocal failed
        if outcome.status == "failed":
            failed += 1
            bar.set_postfix(failed=failed, refresh=False)
            if enabled:  # tqdm.write prints even when the bar is disabled
                bar.write(f"failed: {outcome.file}: {outcome.error}", file=sys.stderr)
        bar.update()

    return on_done, bar.close


def resolve_engine(options: BatchOptions, settings: Settings) -> Engine:
    """The chosen engine, else the eraser when a key is configured, else the offline engine."""
    return options.engine or ("eraser" if settings.api_key else "local")


def default_rate(engine: Engine, rate: str | None) -> float | None:
    """Images per second allowed to start: --rate, else 10/min for cleanup and remove-text; else no limit."""
    if rate is not None:
        return parse_rate(rate)
    return CLEANUP_DEFAULT_RATE if engine in ("cleanup", "remove-text") else None


@dataclass
class BatchResult:
    """Every outcome in input order, and the whole batch's duration."""

    outcomes: list[Outcome]
    seconds: float
    engine: Engine
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when nothing failed (skips count as done), else 1."""
        return 1 if any(o.status in ("failed", "cancelled") for o in self.outcomes) else 0


async def run_batch_async(
    options: BatchOptions,
    settings: Settings,
    *,
    service: Service | None = None,
) -> BatchResult:
    """Plan, run and report a batch (raises InputError before any work for usage problems)."""
    from novita_ui.service import Service

    engine = resolve_engine(options, settings)
    _check_options(options, engine, settings)
    rate = default_rate(engine, options.rate)
    jobs = plan_batch(options, engine)
    shared = _read_single_mask(options.mask) if options.mask and options.mask.is_file() else None
    try:
        options.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create {options.output_dir}: {error.strerror or error}") from None
    outcomes = [_initial_outcome(job, engine, options.overwrite) for job in jobs]
    todo = [(job, o) for job, o in zip(jobs, outcomes, strict=True) if o.status == "cancelled"]
    _announce(engine, rate, len(jobs), sum(o.status == "skipped" for o in outcomes), options.progress)
    own = service is None
    service = service or Service(settings)
    concurrency = options.concurrency or (
        service.local_workers if engine == "local" else NOVITA_DEFAULT_CONCURRENCY
    )
    failed_early = [o for o in outcomes if o.status == "failed"]
    on_done, close = _progress(len(todo) + len(failed_early), options.progress)
    for outcome in failed_early:
        on_done(outcome)
    limiter = RateLimiter(rate) if rate else None
    run = _Run(options, engine, service, asyncio.Semaphore(concurrency), limiter, shared, on_done)
    started = time.perf_counter()
    try:
        await asyncio.gather(*(_process(run, job, outcome) for job, outcome in todo))
    finally:  # on Ctrl-C too: what finished is reported, the rest stays "cancelled"
        close()
        if own:
            await service.aclose()
        result = BatchResult(outcomes, round(time.perf_counter() - started, 3), engine)
        counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed", "cancelled")}
        result.counts = {s: n for s, n in counts.items() if n or s != "cancelled"}
        write_reports(options, result)
    return result


def _announce(engine: Engine, rate: float | None, total: int, skipped: int, enabled: bool) -> None:
    if not enabled:
        return
    limit = f", at most {rate * 60:g} images/min" if rate else ""
    print(f"Batch: {total} images, engine {engine}{limit}.", file=sys.stderr)
    if skipped:
        print(f"Skipping {skipped} already cleaned (use --overwrite to redo them).", file=sys.stderr)


# ---- report ----------------------------------------------------------------------------------------------


def write_reports(options: BatchOptions, result: BatchResult) -> tuple[Path, Path]:
    """``report.json`` (summary + rows) and ``report.csv`` (rows) in the output folder, atomically."""
    from novita_ui.runtime.storage import write_atomic, write_json_atomic

    rows = [asdict(outcome) for outcome in result.outcomes]
    summary: dict[str, Any] = {
        "input_dir": str(options.input_dir),
        "output_dir": str(options.output_dir),
        "mask": str(options.mask) if options.mask else None,
        "engine": result.engine,
        "prompt": options.prompt,
        "seconds": result.seconds,
        "counts": {**result.counts, "total": len(rows)},
        "files": rows,
    }
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=REPORT_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    json_path = write_json_atomic(options.output_dir / "report.json", summary)
    return json_path, write_atomic(options.output_dir / "report.csv", text.getvalue().encode("utf-8"))


# ---- command line ----------------------------------------------------------------------------------------


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
