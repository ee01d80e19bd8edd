"""How events answer the page: refusals and unexpected failures (toast + log), and the download button.

A refusal is an expected failure: the user reads the message, its title first (Gradio 6.31's toasts show
only "Error" as their title; see ``gradio_seams``), and the log gets one line. Anything else is logged
with a reference and the user gets a generic message quoting it. Both raise ``gr.Error``, so the event
ends as failed and API callers (gradio_client) get the message as an ``AppError``.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import gradio as gr

from novita_ui.ui.outcome import Outcome
from novita_ui.ui.server.gradio_seams import titled

log = logging.getLogger("novita_ui.ui")


def refusal(message: str, title: str, *, in_page: bool = True) -> gr.Error:
    """An expected failure, titled; ``in_page`` puts the title in the toast's text (API callers get both)."""
    log.info("%s: %s", title, message)
    return gr.Error(titled(message, title) if in_page else message, title=title, print_exception=False)


def unexpected(during: str, *, in_page: bool = True) -> gr.Error:
    """Log an unexpected failure (with a reference) and return the generic error the user sees."""
    reference = secrets.token_hex(4)
    log.exception("unexpected error while %s (reference %s)", during, reference)
    return refusal(
        f"Something unexpected went wrong on the server (reference {reference}). Try again; if it keeps "
        "happening, tell the server's owner the reference.",
        "Server error",
        in_page=in_page,
    )


def result_slider(outcome: Outcome) -> Any:
    """The before/after slider showing a result, its handle back at the left edge: the result shows whole
    at first sight, also after the user dragged the handle to compare the last one. Gradio moves the handle
    only when the position it is sent differs from the last one, so each result is sent its own, a hair
    from the edge (its round: 0.001 % apart, at most 0.1 %, under a pixel of a 1024 px preview)."""
    edge = (outcome.round % 100) / 1000
    return gr.update(value=(str(outcome.before), str(outcome.after)), slider_position=edge)


def download_button(outcome: Outcome) -> Any:
    """The download button for a result: its file name and size on the label."""
    size_mb = outcome.file.stat().st_size / 2**20
    return gr.DownloadButton(
        f"Download {outcome.file.name} ({size_mb:.1f} MB)", value=str(outcome.file), interactive=True
    )
