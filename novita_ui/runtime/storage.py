"""Writing results to disk crash-safe: a final name appears only with the complete, fsynced file behind it.

Also the web app's --output-dir: a result saved with its JSON sidecar under a name no other save can take.
Its per-session scratch folders are :class:`~novita_ui.runtime.scratch.ScratchSpace` (re-exported here).
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from novita_ui.normalise import numbered_name
from novita_ui.runtime.scratch import (
    ScratchSpace as ScratchSpace,  # the web app's scratch, where it was before
)

try:
    import fcntl
except ImportError:  # pragma: no cover  # Windows
    fcntl = None  # type: ignore[assignment]


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write bytes to path via a temporary file in the same folder and an atomic rename."""
    target = Path(path)
    temp = _write_temp(target, data)
    try:
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)
    return target


def write_json_atomic(path: str | os.PathLike[str], value: Any) -> Path:
    """Write a JSON document atomically (UTF-8, indented for people)."""
    return write_atomic(path, json_bytes(value))


def remove_partial_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary ``.*.part`` files a killed writer left in folder; returns what went.

    A file another live process is still writing is locked by it and stays (two servers may share a folder).
    """
    removed = []
    for temp in Path(folder).glob(f".*{_PART}"):
        try:
            with open(temp, "rb") as file:
                if _try_lock(file.fileno()):
                    temp.unlink()
                    removed.append(temp)
        except OSError:
            continue  # gone meanwhile, or not ours to delete
    return removed


_PART = ".part"


def _write_temp(target: Path, data: bytes) -> Path:
    """data in a locked, fsynced temp file next to target (the lock tells the clean-up its writer lives)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=_PART, dir=target.parent)
    temp = Path(name)
    try:
        with os.fdopen(handle, "wb") as file:
            # mkstemp makes the file 0600; a saved result is the user's file like any other: their umask.
            os.fchmod(file.fileno(), 0o666 & ~_umask())
            _try_lock(file.fileno())  # released when the file is closed, or by the kernel if we are killed
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _umask() -> int:
    """The process's umask, read without changing it (os.umask can only set it, which races other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):  # pragma: no cover  # no procfs (macOS, old kernels)
        pass
    mask = os.umask(0o022)  # pragma: no cover
    os.umask(mask)  # pragma: no cover
    return mask  # pragma: no cover


def _try_lock(fd: int) -> bool:
    if fcntl is None:  # pragma: no cover  # no advisory locks (Windows): never delete another's file
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so a rename in it survives a power cut (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover  # Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover  # some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def json_bytes(value: Any) -> bytes:
    """A JSON document as UTF-8 bytes, indented for people."""
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def _publish_unique(temp: Path, base: Path) -> Path:
    """Give the complete temp file the first free name of ``base``, ``base-2``...; no other save can take it.

    ``os.link`` fails when the name exists, so the name appears only with the whole file behind it (an
    empty placeholder claimed first would survive a crash under the final name). A name whose sidecar is
    still there counts as taken.
    """
    counter = 1
    while True:
        candidate = base.with_name(numbered_name(base.name, counter))
        counter += 1
        if _sidecar(candidate).exists():
            continue
        try:
            os.link(temp, candidate)
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links: rename (another process could race for it)
            if candidate.exists():
                continue
            os.replace(temp, candidate)
            return candidate
        temp.unlink()
        return candidate


def _sidecar(image: Path) -> Path:
    return image.with_name(image.name + ".json")


@dataclass(frozen=True, kw_only=True)
class Made:
    """How a result was made, as its sidecar tells it. It has no field for a key, so none can leak into it."""

    engine: str
    output_format: str
    size: tuple[int, int]
    source_name: str | None
    prompt: str | None = None
    task_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    downscaled: bool = False


def result_record(
    made: Made, *, extra: dict[str, Any] | None = None, now: datetime.datetime | None = None
) -> dict[str, Any]:
    """The sidecar's content: ``made``, then ``extra`` (the result's own facts), stamped ``now``."""
    created = (now or datetime.datetime.now(datetime.UTC)).isoformat(timespec="seconds")
    record: dict[str, Any] = {
        "engine": made.engine,
        "prompt": (made.prompt or "").strip() or None,
        "format": made.output_format,
        "task_id": made.task_id,
        "timings": dict(made.timings),
        "source_name": made.source_name,
        "size": {"width": made.size[0], "height": made.size[1]},
        "downscaled": made.downscaled,
        "created": created,
    }
    record.update(extra or {})
    return record


def write_unique(folder: str | os.PathLike[str], name: str, data: bytes) -> Path:
    """Write data crash-safe under ``folder/name``, or ``stem-2.ext``... when taken; returns the path.

    The name appears only with the complete, fsynced file behind it, and never replaces another file.
    """
    temp = _write_temp(Path(folder) / name, data)
    try:
        target = _publish_unique(temp, Path(folder) / name)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)
    return target


def save_result(folder: str | os.PathLike[str], name: str, data: bytes, record: dict[str, Any]) -> Path:
    """Save a result and its JSON sidecar (``<file>.json``) in folder, crash-safe; returns the image path.

    Each file is complete and fsynced before its final name appears, and a name is never reused. The image
    comes first: a crash between the two leaves a result without notes, never notes without a result.
    """
    target = write_unique(folder, name, data)
    write_json_atomic(_sidecar(target), {**record, "file": target.name})
    return target
