"""One scrubber for secrets: everything that came from upstream passes through it before it reaches a message,
a log line, a sidecar or a file name.

A server that quotes a request back (a proxy's error page, a reason that echoes the ``Authorization``
header, a task id built from it) could show a user the key; when the user typed none, the server owner's.
So any run of 8 or more characters that also occurs in a key is masked, whatever surrounds it (``Bearer``,
quotes, URL parameters), case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = "***"
MIN_RUN = 8  # shorter runs are too common to be a key's fingerprint ("Bearer s", "INVALID_")
MAX_TEXT = 300  # upstream text is cut to this before it is shown anywhere


class Scrubber:
    """Masks every substring of the given secrets that is ``MIN_RUN`` characters or longer."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        keys = {s.strip().lower() for s in secrets if s and len(s.strip()) >= MIN_RUN}
        # Every MIN_RUN-long window of every key: a longer shared run is a chain of overlapping windows.
        self._windows = frozenset(k[i : i + MIN_RUN] for k in keys for i in range(len(k) - MIN_RUN + 1))

    def __call__(self, text: object, *, limit: int = MAX_TEXT) -> str:
        """``text`` as a string, cut to ``limit`` characters, with every run shared with a secret masked."""
        value = str(text)[: 2 * limit]  # a megabyte-long proxy page is not worth scanning
        if self._windows:
            value = self._mask(value)
        return value if len(value) <= limit else value[: limit - 1] + "…"

    def _mask(self, value: str) -> str:
        folded = value.lower()
        hidden = [False] * len(value)
        for start in range(len(value) - MIN_RUN + 1):
            if folded[start : start + MIN_RUN] in self._windows:
                hidden[start : start + MIN_RUN] = [True] * MIN_RUN
        if not any(hidden):
            return value
        out: list[str] = []
        for index, char in enumerate(value):
            if not hidden[index]:
                out.append(char)
            elif index == 0 or not hidden[index - 1]:
                out.append(MASK)
        return "".join(out)
