"""A batch's run: bounded concurrency, a client-side rate limit, a progress bar, and one bad file never
stopping the rest; what finished is reported (``report``) even on Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from novita_ui.batch.plan import BatchOptions, Job, check_options, plan_batch, read_single_mask
from novita_ui.batch.report import BatchResult, Outcome, write_reports
from novita_ui.errors import InputError  # light: the errors module imports nothing

if TYPE_CHECKING:
    from novita_ui.config import Settings
    from novita_ui.normalise import Engine
    from novita_ui.service import Service

log = logging.getLogger("novita_ui.batch")

CLEANUP_DEFAULT_RATE = 10 / 60  # Novita's documented default for cleanup and remove-text: 10 images a minute
DEFAULT_NOVITA_CONCURRENCY = 4
_RATE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*$", re.I)
_PER_SECOND = {"s": 1.0, "sec": 1.0, "second": 1.0, "h": 3600.0, "hour": 3600.0}


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


async def run_batch_async(
    options: BatchOptions,
    settings: Settings,
    *,
    service: Service | None = None,
) -> BatchResult:
    """Plan, run and report a batch (raises InputError before any work for usage problems)."""
    from novita_ui.service import Service

    engine = resolve_engine(options, settings)
    check_options(options, engine, settings)
    rate = default_rate(engine, options.rate)
    jobs = plan_batch(options, engine)
    shared = read_single_mask(options.mask) if options.mask and options.mask.is_file() else None
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
        service.local_workers if engine == "local" else DEFAULT_NOVITA_CONCURRENCY
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
