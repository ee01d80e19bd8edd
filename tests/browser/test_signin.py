"""With --auth, in a real browser: the sign-in page works behind the app's middleware (its assets and the
routes the page needs are open, everything else needs the sign-in), shows no API schema, and after the
sign-in the whole app works (photo upload, session heartbeat)."""

from __future__ import annotations

from typing import Any

from tests.browser.helpers import drop_file, wait_app_ready, wait_editor_ready


def test_sign_in_page_hides_the_api_schema_and_the_app_works_after_signing_in(
    app_factory: Any, page: Any, photos: Any
) -> None:
    app = app_factory(args=("--auth", "ann:s3cret"))
    page.goto(app.url)
    page.get_by_label("username").fill("ann")
    assert page.evaluate("window.gradio_api_info") is None  # no schema for strangers
    page.get_by_label("password").fill("s3cret")
    page.get_by_role("button", name="Login").click()
    wait_app_ready(page)
    drop_file(page, photos["small"])
    assert wait_editor_ready(page)["size"] == [640, 480]
    assert "/erase" in str(page.evaluate("Object.keys(window.gradio_api_info?.named_endpoints || {})"))
