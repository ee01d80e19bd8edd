"""Batch mode: clean every image in a folder, pairing each with its mask by file stem.

Plan (``plan``: pure, no network) -> run (``run``: bounded concurrency, client-side rate limit, one bad file
never stops the rest) -> report (``report``: ``report.json`` and ``report.csv`` in the output folder); the
``batch`` subcommand is ``command``. Outputs that already exist are skipped, so an interrupted batch resumes
where it stopped. Heavy modules load lazily: ``cli`` imports this package just to register the subcommand.
"""

from novita_ui.batch.command import add_batch_parser, options_from_args, run_batch
from novita_ui.batch.plan import MASK_SUFFIXES, BatchOptions, Job, match_mask, plan_batch
from novita_ui.batch.report import REPORT_FIELDS, BatchResult, Outcome, Status, write_reports
from novita_ui.batch.run import (
    CLEANUP_DEFAULT_RATE,
    DEFAULT_NOVITA_CONCURRENCY,
    RateLimiter,
    default_rate,
    parse_rate,
    resolve_engine,
    run_batch_async,
)

__all__ = [
    "CLEANUP_DEFAULT_RATE",
    "DEFAULT_NOVITA_CONCURRENCY",
    "MASK_SUFFIXES",
    "REPORT_FIELDS",
    "BatchOptions",
    "BatchResult",
    "Job",
    "Outcome",
    "RateLimiter",
    "Status",
    "add_batch_parser",
    "default_rate",
    "match_mask",
    "options_from_args",
    "parse_rate",
    "plan_batch",
    "resolve_engine",
    "run_batch",
    "run_batch_async",
    "write_reports",
]
