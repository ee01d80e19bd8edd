"""A batch's report: one row per input image, the whole batch's counts, and ``report.json`` /
``report.csv`` in the output folder (written even when the batch was interrupted)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from novita_ui.batch.plan import BatchOptions
    from novita_ui.normalise import Engine

REPORT_FIELDS = ("file", "mask", "status", "engine", "seconds", "task_id", "error", "output")

Status = Literal["done", "skipped", "failed", "cancelled"]


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
