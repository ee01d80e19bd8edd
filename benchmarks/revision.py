"""A module of this project as it was at a git revision, imported beside today's: before/after in one run.

Timing two versions in two runs on a shared machine compares two loads as much as two versions; loading the
old source next to the new one lets a benchmark interleave them in one process.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def module_at(revision: str, path: str) -> ModuleType:
    """The module in ``path`` (e.g. "novita_ui/pixels/local.py") as committed at ``revision``.

    It imports its own imports from today's tree (fine for a module whose neighbours have not changed the
    API it uses). Raises RuntimeError when git or the revision is not there (e.g. a source tarball).
    """
    try:
        source = subprocess.run(
            ["git", "show", f"{revision}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise RuntimeError(f"cannot read {path} at {revision!r} from git: {error}") from error
    name = f"{Path(path).stem}_at_{revision}".replace("-", "_").replace(".", "_")
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{revision}:{path}", "exec"), module.__dict__)
    return module
