"""One browser tab's truth, kept on the server: the photo, the uploaded mask, the job in flight, the results.

A :class:`Session` lives in a ``gr.State`` (one per tab; Gradio hands every event of the tab the same
object). Every event reads and changes it here, never by trusting what the editor exported:

- the photo has a version; a job names the version it was started on, and the canvas it sends must still
  show that photo (Undo in the editor can take the photo away; see ``events.removal.shows_picture``);
- an uploaded mask belongs to the photo it was uploaded for: a new photo of the same shape gets it
  rescaled (the page says so), any other photo drops it;
- one job at a time: a job is a :class:`JobSpec` snapshot taken in the browser at the click; while one
  runs, another is not started; only the newest job writes the result panel, the download and the status;
- the latest action wins: the page stamps each photo or mask action as it fires (a count of the tab's
  actions, ``act``); an action the server hears of after a later one has been claimed changes nothing,
  and one still working when a later one is claimed drops its work (a mask still being read when Clear
  is pressed or another photo dropped), whatever order the server finishes the events in;
- a click counts once: the job carries how many jobs the page had seen end when it was clicked (``after``),
  so the second click of a double-click is refused even when its event reaches the server after the first
  job has ended (on a loaded machine the canvas export before it can take seconds).

No gradio here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from novita_ui.errors import InputError
from novita_ui.normalise import Engine
from novita_ui.pixels import imaging, local
from novita_ui.pixels.imaging import checked_format
from novita_ui.ui.options import GROW_LIMIT
from novita_ui.ui.outcome import Outcome
from novita_ui.ui.texts import ENGINE_LABELS, JOB_LABELS, quality_of


@dataclass(frozen=True, kw_only=True)
class Photo:
    """The photo being edited: the user only ever paints on its preview."""

    original: Path  # the bytes as the user gave them (or a result being edited further)
    name: str  # the user's file name: results are called <stem>-cleaned.<ext>
    size: tuple[int, int]  # upright (width, height) of the original
    preview: Path  # the working canvas, as the slider's "before"
    preview_size: tuple[int, int]
    version: int = 0  # set by Session.show: which photo of this tab it is
    canvas: Path | None = None  # what the editor shows when not the preview (the mask drawn on it)

    @property
    def shown(self) -> Path:
        """The image the editor was given: the preview, with the uploaded mask drawn on it if any."""
        return self.canvas or self.preview

    def editor_value(self, strokes: list[str] | None = None) -> dict[str, Any]:
        """The editor's value for this photo: its canvas, and the stroke layers to keep (none by default)."""
        return {"background": str(self.shown), "layers": strokes or [], "composite": str(self.shown)}


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """A removal as the user asked for it at the click: read in the browser, before anything uploads."""

    job_id: str
    engine: Engine
    label: str  # the engine as the page names it
    output_format: imaging.OutputFormat
    grow: int
    prompt: str | None
    enterprise: bool
    photo: int | None  # the photo version the canvas showed
    after: int  # how many jobs of this tab the page had seen end at the click (Session.started then)
    whole_photo: bool = False  # over 16 MP: the whole photo shrunk, not a crop (unticked: server decides)
    quality: local.Choice = local.DEFAULT_CHOICE  # Offline only

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> JobSpec:
        """Check a job sent by the page script (``page.GATHER_JS``)."""
        raw = raw or {}
        label = str(raw.get("engine") or "")
        if label not in JOB_LABELS:
            raise InputError(f"Unknown engine {label!r}: choose one of {', '.join(ENGINE_LABELS)}.")
        fmt = checked_format(str(raw.get("format") or ""))
        engine = JOB_LABELS[label]
        photo, after = raw.get("photo"), raw.get("after")
        if not isinstance(after, (int, float)) or isinstance(after, bool):
            raise InputError("This page is out of date: reload it, then press **Remove** again.")
        return cls(
            job_id=str(raw.get("id") or ""),
            engine=engine,
            label=label,
            output_format=fmt,
            grow=max(-GROW_LIMIT, min(GROW_LIMIT, int(float(raw.get("grow") or 0)))),  # < 0: shrink
            prompt=str(raw.get("prompt") or "").strip() or None,
            enterprise=bool(raw.get("enterprise")) and engine == "cleanup",
            photo=photo if isinstance(photo, int) else None,
            after=int(after),
            whole_photo=bool(raw.get("wholePhoto")),
            quality=quality_of(str(raw.get("quality") or "") or None),
        )


@dataclass(frozen=True)
class SelectionStep:
    """What one use of the select tool replaced (events/selecting.py): its photo and the stroke layer
    before it (None: no strokes)."""

    version: int
    before: Path | None


@dataclass
class Session:
    """What one tab has: see the module docstring."""

    owner: str = "anonymous"  # Gradio's session hash: the tab's scratch folder
    photo: Photo | None = None
    mask: imaging.Array | None = None  # an uploaded mask at the photo's size
    mask_name: str | None = None
    running: JobSpec | None = None
    newest: str | None = None  # id of the newest job started
    history: list[Outcome] = field(default_factory=list)
    current: Outcome | None = None
    started: int = 0  # jobs started in this tab (the page learns it when each one ends)
    selections: list[SelectionStep] = field(default_factory=list)  # newest last, for Undo
    _versions: int = 0
    _acted: int = 0  # the stamp of the latest photo or mask action claimed
    _photo_acted: int = 0  # ... of the latest action that changed the photo

    def claim(self, stamp: float | None, *, photo: bool = False) -> int | None:
        """Claim the action the page stamped ``stamp`` (None: one that came without, it is the latest);
        None when it is stale: a later action was claimed first, so this one must change nothing. A mask
        action loses to any later action; a photo action only to a later photo action (a new photo after
        Clear the mask still shows)."""
        number = self._acted + 1 if stamp is None else int(stamp)
        if number < (self._photo_acted if photo else self._acted):
            return None
        self._acted = max(self._acted, number)
        if photo:
            self._photo_acted = number
        return number

    def still_latest(self, claimed: int, *, photo: bool = False) -> bool:
        """No later action was claimed since ``claimed`` (for a photo action: no later photo action)."""
        return (self._photo_acted if photo else self._acted) == claimed

    def show(self, photo: Photo) -> tuple[imaging.Array, str] | None:
        """A new photo is the one being edited; returns the uploaded mask (and its name) it had, if any:
        the mask no longer belongs to anything until the caller attaches it again."""
        self._versions += 1
        had = None if self.mask is None else (self.mask, self.mask_name or "mask")
        self.mask, self.mask_name = None, None
        self.photo = replace(photo, version=self._versions, canvas=None)
        return had

    def forget_photo(self) -> None:
        """The editor no longer has a photo (its toolbar's bin)."""
        self.photo, self.mask, self.mask_name = None, None, None

    def attach_mask(self, mask: imaging.Array, name: str, canvas: Path) -> Photo:
        """Own an uploaded mask (at the photo's size) and the canvas that shows it."""
        if self.photo is None:
            raise InputError("Add a photo first, then upload its mask.")
        self.mask, self.mask_name = mask, name
        self.photo = replace(self.photo, canvas=canvas)
        return self.photo

    def clear_mask(self) -> Photo | None:
        """Drop the uploaded mask; the photo is shown without it."""
        self.mask, self.mask_name = None, None
        if self.photo is not None:
            self.photo = replace(self.photo, canvas=None)
        return self.photo

    def start(self, job: JobSpec) -> bool:
        """Make ``job`` the one in flight; False (nothing started) while another job runs, for a job that
        was started before (the page re-sending it), or for a click made before the last job had ended."""
        if self.running is not None or job.job_id == self.newest or job.after != self.started:
            return False
        self.running, self.newest = job, job.job_id
        self.started += 1
        return True

    def finish(self, job: JobSpec) -> None:
        """``job`` is over (done, failed or cancelled)."""
        if self.running is job:
            self.running = None

    def is_newest(self, job: JobSpec) -> bool:
        """Only the newest job may write the result panel, the download and the status."""
        return self.newest == job.job_id

    def add_result(self, outcome: Outcome, limit: int) -> list[Outcome]:
        """Record a result as the current one, newest first in the history."""
        self.history = [outcome, *self.history][:limit]
        self.current = outcome
        return self.history

    def info(self) -> str:
        """JSON the page (and the browser tests) read: the photo's id, name, sizes and its uploaded mask."""
        if self.photo is None:
            return ""
        p = self.photo
        return json.dumps(
            {
                "id": f"{p.preview.parent.name}-{p.version}",
                "version": p.version,
                "name": p.name,
                "size": list(p.size),
                "preview": list(p.preview_size),
                "mask": self.mask_name,
            }
        )
