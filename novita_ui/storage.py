"""Writing results to disk: atomically (temp file + rename), so a failure never leaves a partial file."""

from __future__ import annotations

import json
import os
import tempfile
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
