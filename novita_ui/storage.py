"""Writing results to disk: atomically (temp file + rename), so a failure never leaves a partial file.

Also the web app's disk needs: a result saved with its JSON sidecar under a name no other save can take,
and per-session scratch folders that are removed with the session.
"""

from __future__ import annotations

import collections
import datetime
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write bytes to path via a temporary file in the same folder and an atomic rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def write_json_atomic(path: str | os.PathLike[str], value: Any) -> Path:
    """Write a JSON document atomically (UTF-8, indented for people)."""
    return write_atomic(path, (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode())


def unique_path(folder: str | os.PathLike[str], name: str) -> Path:
    """``folder/name``, or ``folder/stem-2.ext`` ... when that exists already (nothing is overwritten)."""
    base = Path(folder) / name
    candidate, counter = base, 2
    while candidate.exists():
        candidate = base.with_name(f"{base.stem}-{counter}{base.suffix}")
        counter += 1
    return candidate


def reserve_unique_path(folder: str | os.PathLike[str], name: str) -> Path:
    """Like :func:`unique_path`, but race-free: the name is claimed by creating an empty file (O_EXCL).

    Two servers, or two sessions of one server, saving ``holiday-cleaned.jpg`` at the same moment get two
    different names, so neither result replaces the other. The caller then writes over the placeholder.
    """
    base = Path(folder) / name
    base.parent.mkdir(parents=True, exist_ok=True)
    counter = 1
    while True:
        candidate = base if counter == 1 else base.with_name(f"{base.stem}-{counter}{base.suffix}")
        try:
            with open(candidate, "xb"):
                return candidate
        except FileExistsError:
            counter += 1


def result_record(
    *,
    engine: str,
    output_format: str,
    size: tuple[int, int],
    source_name: str | None,
    prompt: str | None = None,
    task_id: str | None = None,
    timings: dict[str, float] | None = None,
    downscaled: bool = False,
    extra: dict[str, Any] | None = None,
    now: datetime.datetime | None = None,
) -> dict[str, Any]:
    """The sidecar's content: how a result was made. Takes no key argument, so none can leak into it."""
    created = (now or datetime.datetime.now(datetime.UTC)).isoformat(timespec="seconds")
    record: dict[str, Any] = {
        "engine": engine,
        "prompt": (prompt or "").strip() or None,
        "format": output_format,
        "task_id": task_id,
        "timings": dict(timings or {}),
        "source_name": source_name,
        "size": {"width": size[0], "height": size[1]},
        "downscaled": downscaled,
        "created": created,
    }
    record.update(extra or {})
    return record


def save_result(folder: str | os.PathLike[str], name: str, data: bytes, record: dict[str, Any]) -> Path:
    """Save a result and its JSON sidecar (``<file>.json``) atomically in folder; returns the image path.

    The image is written first: a crash between the two writes leaves a result without notes, never notes
    without a result.
    """
    target = reserve_unique_path(folder, name)
    try:
        write_atomic(target, data)
    except BaseException:
        target.unlink(missing_ok=True)  # drop the empty placeholder
        raise
    write_json_atomic(target.with_name(target.name + ".json"), {**record, "file": target.name})
    return target


def _safe_name(session: str) -> str:
    return "".join(c for c in session if c.isalnum() or c in "-_")[:64] or "anonymous"


class ScratchSpace:
    """Per-session working folders under one root (originals, previews, results), removed when done.

    A session's folder goes when the session ends (:meth:`discard`), when the server stops (:meth:`close`),
    or, for sessions that never say goodbye (API clients), once nothing was added to it for ``max_age``.

    Files made with ``keep=True`` are listed in :attr:`kept` until their session goes: the web app puts the
    root inside Gradio's cache (so results are served without a copy) and tells Gradio's age-based cache
    sweeper to leave these to us, so a result's download link works for as long as its tab is open.
    Files made with ``keep=False`` are hand-offs (an API result the client fetches as soon as its call
    ends): each is deleted ``handoff_age`` seconds later, at the next new file.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_age: float = 12 * 3600,
        handoff_age: float = 120,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.max_age = max_age
        self.handoff_age = handoff_age
        self._handoffs: collections.deque[tuple[float, Path]] = collections.deque()  # oldest first
        self._clock = clock
        self._last_prune = clock()
        self._lock = threading.Lock()
        self._kept: dict[str, set[str]] = {}  # session folder name -> its kept files

    def folder(self, session: str) -> Path:
        """The session's folder, created on first use (its name is sanitised)."""
        path = self.root / _safe_name(session)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def new_file(self, session: str, name: str, *, keep: bool = True) -> Path:
        """A fresh path ``<session>/<random>/<name>``: the file keeps a meaningful name for downloads.

        ``keep=False`` is for hand-offs (an API result that Gradio serves once): deleted after
        ``handoff_age`` instead of waiting for the session to end.
        """
        self._maybe_prune()
        self._drop_handoffs()
        folder = Path(tempfile.mkdtemp(dir=self.folder(session)))
        os.utime(folder.parent)  # the session is alive
        path = folder / Path(name).name
        with self._lock:
            if keep:
                self._kept.setdefault(folder.parent.name, set()).add(os.path.abspath(path))
            else:
                self._handoffs.append((self._clock(), path))
        return path

    def _drop_handoffs(self) -> None:
        cutoff = self._clock() - self.handoff_age
        expired = []
        with self._lock:
            while self._handoffs and self._handoffs[0][0] < cutoff:
                expired.append(self._handoffs.popleft()[1])
        for path in expired:
            shutil.rmtree(path.parent, ignore_errors=True)  # the file's own random folder

    def discard(self, session: str) -> None:
        """Remove one session's files (the tab was closed)."""
        self._remove(self.root / _safe_name(session))

    def prune(self) -> None:
        """Remove the folders of sessions idle for longer than ``max_age``."""
        cutoff = self._clock() - self.max_age
        for folder in self.root.glob("*"):
            try:
                if folder.is_dir() and folder.stat().st_mtime < cutoff:
                    self._remove(folder)
            except FileNotFoundError:
                continue  # removed meanwhile by another thread

    @property
    def kept(self) -> frozenset[str]:
        """A snapshot of the kept files' absolute paths, safe to iterate while sessions come and go."""
        with self._lock:
            return frozenset().union(*self._kept.values())

    def _remove(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        with self._lock:
            self._kept.pop(folder.name, None)

    def _maybe_prune(self) -> None:
        now = self._clock()
        if now - self._last_prune > min(600.0, self.max_age / 4):
            self._last_prune = now
            self.prune()

    def close(self) -> None:
        """Remove every session's files."""
        shutil.rmtree(self.root, ignore_errors=True)
        with self._lock:
            self._kept.clear()
