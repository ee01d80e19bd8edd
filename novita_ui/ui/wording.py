"""Errors as a page user or an API caller reads them: whose key, what they can do next."""

from __future__ import annotations

import logging

from novita_ui.errors import (
    AuthenticationError,
    InputError,
    MissingAPIKeyError,
    NovitaUIError,
    RateLimitError,
    TaskError,
)
from novita_ui.novita.client import KEY_HELP

log = logging.getLogger("novita_ui.ui")


def error_title(error: NovitaUIError) -> str:
    """The toast title for an error class."""
    if isinstance(error, MissingAPIKeyError):
        return "API key needed"
    if isinstance(error, AuthenticationError):
        return "API key rejected"
    if isinstance(error, RateLimitError):
        return "Rate limited"
    if isinstance(error, TaskError):
        return "Novita task failed"
    if isinstance(error, InputError):
        return "Cannot remove yet"
    return "Novita failed"


def user_message(error: NovitaUIError, *, own_key: bool = False, in_page: bool = True) -> str:
    """What the user reads: the error's own sentence, said for them (whose key, what they can do).

    ``in_page``: a browser tab (type a key, choose Offline) rather than an API caller (pass api_key, call
    /local). Advice only the server's operator can follow (environment variables) goes to the log."""
    text = str(error).strip()
    typed, offline = (
        ("type it in *Novita API key*", "choose **Offline**") if in_page else ("pass api_key", "call /local")
    )
    if isinstance(error, MissingAPIKeyError):
        log.warning("a visitor asked for a Novita engine; set NOVITA_API_KEY to let visitors use it keyless")
        return (
            f"This server has no Novita API key, so Novita needs yours: {typed} ({KEY_HELP}), or {offline}."
        )
    if isinstance(error, AuthenticationError):
        code = f"{error.status_code} {error.reason}" if error.reason else str(error.status_code)
        if own_key:
            return (
                f"Novita rejected the API key you typed ({code}). Check that it is correct and active "
                f"({KEY_HELP}), or {offline}."
            )
        log.warning("Novita rejected the server's NOVITA_API_KEY (%s): replace it", code)
        return (
            f"Novita rejected this server's API key ({code}); the problem is not on your side. Use your own "
            f"key ({typed}), or {offline}."
        )
    if isinstance(error, TaskError) and "try" not in text.lower():
        end = "" if text.endswith((".", "!", "?")) else "."
        text += f"{end} Try again, or try the other Novita engine; quote the task id if you contact Novita."
    return text
