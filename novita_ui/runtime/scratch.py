"""Per-session scratch folders for the web app: originals, previews and results, removed with the session;
API hand-offs removed on a timer."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from novita_ui.runtime.expiry import Expiry


class ScratchSpace:
    """Per-session working folders under one root (originals, previews, results), removed when done.

    A session's folder is named by a keyed hash of its session id (:meth:`folder_name`), never the id
    itself: file URLs show the folder, and anyone who knows a session id can end that session in Gradio
    (its unload handler then deletes the folder), so the id must not be readable from a result's URL.

    A session's folder goes when the session ends (:meth:`discard`), when the server stops (:meth:`close`),
    or, for sessions that never say goodbye (API clients), once nothing was added to it for ``max_age``.

    Files made with ``keep=True`` are listed in :attr:`kept` until their session goes: the web app puts the
    root inside Gradio's cache (so results are served without a copy) and tells Gradio's age-based cache
    sweeper to leave these to us, so a result's download link works for as long as its tab is open.
    Files made with ``keep=False`` are hand-offs (an API result the client fetches as soon as its call
    ends): each is deleted ``handoff_age`` seconds later by a timer
    (:class:`~novita_ui.runtime.expiry.Expiry`).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_age: float = 12 * 3600,
        handoff_age: float = 120,
        clock: Callable[[], float] = time.time,
        expiry: Expiry | None = None,
    ) -> None:
        self.root = Path(root)
        self._key = secrets.token_bytes(32)  # per server: folder names are unguessable and unlinkable
        self.max_age = max_age
        self.handoff_age = handoff_age
        self._expiry = expiry or Expiry()
        self._clock = clock
        self._last_prune = clock()
        self._lock = threading.Lock()
        self._kept: dict[str, set[str]] = {}  # session folder name -> its kept files

    def folder(self, session: str) -> Path:
        """The session's folder, created on first use."""
        path = self.root / self.folder_name(session)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def new_file(self, session: str, name: str, *, keep: bool = True) -> Path:
        """A fresh path ``<session>/<random>/<name>``: the file keeps a meaningful name for downloads.

        ``keep=False`` is for hand-offs (an API result that Gradio serves once): deleted after
        ``handoff_age`` instead of waiting for the session to end.
        """
        self._maybe_prune()
        folder = Path(tempfile.mkdtemp(dir=self.folder(session)))
        os.utime(folder.parent)  # the session is alive
        path = folder / Path(name).name
        with self._lock:
            if keep:
                self._kept.setdefault(folder.parent.name, set()).add(os.path.abspath(path))
        if not keep:  # the file's own random folder goes on time, busy server or idle
            self._expiry.after(self.handoff_age, lambda: shutil.rmtree(folder, ignore_errors=True))
        return path

    def discard(self, session: str) -> None:
        """Remove one session's files (the tab was closed)."""
        self._remove(self.root / self.folder_name(session))

    def folder_name(self, session: str) -> str:
        """The folder's name for a session: an HMAC of its id under this server's secret key."""
        return hmac.new(self._key, session.encode(), hashlib.sha256).hexdigest()[:32]

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
        """Remove every session's files (and stop the hand-off timer)."""
        self._expiry.close()
        shutil.rmtree(self.root, ignore_errors=True)
        with self._lock:
            self._kept.clear()
