"""One finished removal as the results panel and the history show it, and how results are numbered."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from novita_ui.normalise import Engine, numbered_name
from novita_ui.pixels import imaging, local
from novita_ui.ui.texts import JOB_LABELS, QUALITY_LABELS


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """One finished removal, as the results panel and the history show it."""

    file: Path  # full resolution, in the chosen format, named <stem>-cleaned.<ext>
    before: Path  # previews for the before/after slider
    after: Path
    source_name: str
    size: tuple[int, int]
    engine: Engine
    output_format: imaging.OutputFormat
    task_id: str | None
    downscaled: bool
    seconds: float
    round: int = 1  # 1 for a session's first result, then 2, 3...
    finished: str = ""  # local server time, HH:MM:SS
    method: local.Method | None = None  # the offline method that ran
    flattened: bool = False  # transparency laid on white for JPEG
    # Where the click's time went, for the page's benchmark (bench_browser): epoch stamps ("received",
    # "answered") and seconds per step on the server.
    phases: dict[str, Any] = field(default_factory=dict)

    def engine_label(self) -> str:
        """ "Offline (Texture)", "Novita Eraser"..."""
        label = next(k for k, v in JOB_LABELS.items() if v == self.engine)
        quality = next((k for k, v in QUALITY_LABELS.items() if v == self.method), None)
        return f"{label} ({quality})" if quality else label

    def caption(self) -> str:
        """A short line for the history gallery: which round, when, which engine, which file."""
        when = f" · {self.finished}" if self.finished else ""
        return f"#{self.round}{when} · {self.engine_label()} · {self.file.name}"

    def info(self) -> str:
        """JSON describing the result (read by the browser tests)."""
        return json.dumps(
            {
                "name": self.file.name,
                "size": list(self.size),
                "format": self.output_format,
                "engine": self.engine,
                "method": self.method,
                "flattened": self.flattened,
                "round": self.round,
                "task_id": self.task_id,
                "downscaled": self.downscaled,
                "seconds": round(self.seconds, 3),
                "phases": self.phases,
            }
        )


def next_round(history: Sequence[Outcome]) -> int:
    """The number of the session's next result (history is newest first)."""
    return max((item.round for item in history), default=0) + 1


def unique_name(name: str, history: Sequence[Outcome]) -> str:
    """``photo-cleaned.jpg``, then ``photo-cleaned-2.jpg``... so every download of a session is told apart."""
    taken = {item.file.name for item in history}
    number = 1
    while numbered_name(name, number) in taken:
        number += 1
    return numbered_name(name, number)
