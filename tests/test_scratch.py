"""The web app's scratch space on its own: API hand-offs expire on a timer (a short setting, no long sleeps),
a tab's files stay until the tab goes."""

from __future__ import annotations

import os
import time
from pathlib import Path

from novita_ui.runtime.expiry import Expiry
from novita_ui.runtime.scratch import ScratchSpace


def _gone_within(path: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_an_api_hand_off_is_deleted_on_time_even_when_nothing_else_happens(tmp_path):
    scratch = ScratchSpace(tmp_path / "scratch", handoff_age=0.3)
    try:
        shown = scratch.new_file("tab-1", "photo-cleaned.png")
        made = time.monotonic()
        handed = scratch.new_file("api-1", "photo-cleaned.png", keep=False)
        shown.write_bytes(b"tab"), handed.write_bytes(b"api")
        assert handed.exists(), "a client may still be fetching it"
        assert scratch.kept == {os.path.abspath(shown)}  # what Gradio's cache sweep must leave alone
        # No other file is made: the old code waited for the next one, so a quiet server kept it forever.
        assert _gone_within(handed, 5.0), "the hand-off outlived its promise"
        assert time.monotonic() - made >= 0.3
        assert not handed.parent.exists() and shown.exists()
        scratch.discard("tab-1")
        assert not shown.exists() and scratch.kept == frozenset()
    finally:
        scratch.close()


def _fail() -> None:
    raise OSError("disk gone")


def test_the_timer_runs_jobs_in_time_order_and_stops_with_close():
    done: list[str] = []
    expiry = Expiry()
    expiry.after(0.2, lambda: done.append("late"))
    expiry.after(0.05, lambda: done.append("early"))
    expiry.after(0.1, _fail)  # a failing job is logged; the next still runs
    deadline = time.monotonic() + 5
    while len(done) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert done == ["early", "late"]
    expiry.after(0.05, lambda: done.append("after close"))
    expiry.close()
    expiry.after(0.0, lambda: done.append("never"))
    time.sleep(0.1)  # nothing may run once closed: give it the chance to
    assert done == ["early", "late"]
