"""The page's events (which handler, which components in and out, which queue), the three public endpoints,
and how to queue and launch it all. Handlers answer with named changes; :func:`named` maps the names to
this page's components, so nothing is read by position.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import gradio as gr

from novita_ui.config import Settings
from novita_ui.ui import editor as editor_config
from novita_ui.ui.app import App
from novita_ui.ui.assets.editor_page import (
    EDITOR_CSS,
    EDITOR_HEAD,
    SOFTWARE_WEBGL_HEAD,
    editor_js,
)
from novita_ui.ui.assets.page import (
    CSS,
    EARLY_SCRIPT,
    GATHER_JS,
    LOADED_JS,
    PREPARING_JS,
    SHOW_RESULT_JS,
    STAMP_JS,
    STROKES_JS,
    engine_note_js,
    page_js,
    text_job_js,
)
from novita_ui.ui.assets.select_page import SELECT_CSS, SELECT_JS, SELECTED_JS, SELECTION_JS
from novita_ui.ui.events.tools import endpoints, select_endpoint
from novita_ui.ui.layout import Page, build_page
from novita_ui.ui.options import CACHE_SWEEP, Options
from novita_ui.ui.server import agents, early_script, pagecache, protect
from novita_ui.ui.server.gradio_seams import build_session_config_once, calm_idle_queue, keep_scratch_in_cache
from novita_ui.ui.texts import ENGINE_LABELS, TEXT_LABEL, engine_note

PRIVATE: dict[str, Any] = {"api_visibility": "private"}


def build_app(settings: Settings, options: Options | None = None, *, app: App | None = None) -> gr.Blocks:
    """The whole page. Launch it with ``demo.queue(**queue_kwargs(o)).launch(**launch_kwargs(o, ...))``."""
    app = app or App(settings, options)
    build_session_config_once()  # a connecting client's session no longer holds the event loop ~20 ms
    demo = gr.Blocks(title="Remove objects from photos", delete_cache=CACHE_SWEEP)
    with demo:
        page = build_page(app.options, app.has_server_key)
        _wire_photos(app, page)
        _wire_removal(app, page)
        _wire_api(app)
        # An open tab's photo, previews and results go with their session (ScratchSpace), not by age.
        keep_scratch_in_cache(app.scratch)
        demo.unload(app.forget_session)
    calm_idle_queue(demo)  # an idle app polled its queue 1000 times a second
    return demo


def named(handler: Callable[..., Any], outputs: dict[str, Any]) -> tuple[Callable[..., Any], list[Any]]:
    """``handler`` (answering {name: value}) as a Gradio function answering {component: value}, + outputs.

    The wrapper keeps the handler's signature, so Gradio still injects gr.Request, gr.Progress, SelectData."""

    def convert(changes: dict[str, Any] | None) -> dict[Any, Any]:
        # No changes: every output is skipped (Gradio refuses an empty dict: "didn't return enough values").
        converted = {outputs[name]: value for name, value in (changes or {}).items()}
        return converted or {component: gr.skip() for component in outputs.values()}

    if inspect.isasyncgenfunction(handler):

        @functools.wraps(handler)
        async def stream(*args: Any, **kwargs: Any) -> Any:
            async for changes in handler(*args, **kwargs):
                yield convert(changes)

        return stream, list(outputs.values())
    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return convert(await handler(*args, **kwargs))

        return call, list(outputs.values())

    @functools.wraps(handler)
    def plain(*args: Any, **kwargs: Any) -> Any:
        return convert(handler(*args, **kwargs))

    return plain, list(outputs.values())


def _wire_photos(app: App, p: Page) -> None:
    """A photo or a mask arriving or going. Progress goes to a hidden box: the editor shows its own. Each
    action is stamped in the browser as it fires (#action-stamp), then sent: the latest one wins."""
    quiet: dict[str, Any] = {"show_progress_on": [p.photo_info], "concurrency_id": "load", **PRIVATE}
    photos = app.photos
    to_editor = p.named("editor", "status", "photo_info", "remove", "mask_upload")
    fn, out = named(photos.load_photo, to_editor)
    loading = p.photo_sink.upload(None, None, p.act, js=STAMP_JS, **PRIVATE).then(
        fn, [p.photo_sink, p.session, p.act], out, concurrency_limit=app.options.offline_concurrency, **quiet
    )
    loading.then(None, js=LOADED_JS, **PRIVATE)
    fn, out = named(photos.keep_editing, to_editor)
    p.keep.click(None, None, p.act, js=STAMP_JS, **PRIVATE).then(fn, [p.session, p.act], out, **quiet)
    # A mask file arriving or going redraws the photo: the page forwards the painted strokes first (read
    # in the browser, like Remove's), and they come back into the editor with the new canvas.
    fn, out = named(photos.attach_mask, p.named("editor", "photo_info", "status"))
    strokes = p.mask_upload.upload(None, p.editor, [p.stroke_sink, p.act], js=STROKES_JS, **PRIVATE)
    strokes.then(fn, [p.mask_upload, p.stroke_sink, p.session, p.act], out, **quiet)
    cleared = p.named("editor", "photo_info", "mask_upload")
    fn, out = named(photos.clear_mask, cleared)
    p.clear_mask.click(None, None, p.act, js=STAMP_JS, **PRIVATE).then(fn, [p.session, p.act], out, **quiet)
    fn, out = named(photos.mask_removed, p.named("editor", "photo_info"))
    strokes = p.mask_upload.clear(None, p.editor, [p.stroke_sink, p.act], js=STROKES_JS, **PRIVATE)
    strokes.then(fn, [p.stroke_sink, p.session, p.act], out, **quiet)
    # The select tool: the page reads the box and the painted strokes, the server answers with one layer.
    fn, out = named(app.selecting.select_object, p.named("editor", "status"))
    asked = p.select_run.click(None, p.editor, [p.stroke_sink, p.selection], js=SELECTION_JS, **PRIVATE)
    found = asked.then(fn, [p.selection, p.stroke_sink, p.session], out, **quiet)
    found.success(None, js=SELECTED_JS, **PRIVATE)
    fn, out = named(app.selecting.undo_selection, p.named("editor", "status"))
    p.select_undo.click(fn, p.session, out, **quiet)
    fn, out = named(photos.photo_removed, p.named("status", "photo_info", "remove", "mask_upload"))
    bin_used = p.photo_removed.click(None, None, p.act, js=STAMP_JS, **PRIVATE)
    bin_used.then(fn, [p.session, p.act], out, **quiet)
    fn, out = named(photos.show_history, p.named("slider", "download"))
    p.history.select(fn, p.session, out, show_progress="hidden", concurrency_id="load", **PRIVATE)


def _wire_removal(app: App, p: Page) -> None:
    """Remove. The editor is never an input of a server event nor a progress target (package docstring)."""
    opts = app.options
    note_js = engine_note_js(
        {label: engine_note(label, "", app.has_server_key) for label in ENGINE_LABELS},
        {label: engine_note(label, "key", app.has_server_key) for label in ENGINE_LABELS},
    )
    p.engine.change(None, [p.engine, p.api_key], p.note, js=note_js, **PRIVATE)
    # .change, not .input: Gradio's Textbox fires .input on key presses only, so a pasted key would leave
    # the note saying a key is needed.
    p.api_key.change(None, [p.engine, p.api_key], p.note, js=note_js, **PRIVATE)
    p.remove.click(None, None, [p.status, p.remove], js=PREPARING_JS, **PRIVATE)
    settings = [p.engine, p.fmt, p.grow, p.prompt, p.enterprise, p.quality, p.whole_photo]
    p.remove.click(
        None,
        [*settings, p.photo_info, p.jobs],  # GATHER_JS's parameters, in its order (it reads the editor)
        [p.novita_job, p.offline_job],
        js=GATHER_JS,
        **PRIVATE,
    )
    p.remove_text.click(
        None,
        [p.fmt, p.photo_info, p.jobs],
        [p.novita_job, p.offline_job],
        js=text_job_js(TEXT_LABEL),
        **PRIVATE,
    )
    shown = p.named("slider", "download", "keep", "history", "status", "result_info", "remove", "jobs")
    fn, out = named(app.removal.run, shown)
    for job, queue, limit in (
        (p.novita_job, "novita", opts.novita_concurrency),
        (p.offline_job, "offline", opts.offline_concurrency),
    ):
        job.change(
            fn,
            [job, p.api_key, p.session],
            out,
            concurrency_id=queue,
            concurrency_limit=limit,
            show_progress_on=[p.status],
            trigger_mode="multiple",
            **PRIVATE,
        )
    # Scroll to a result when one arrives, not when a job ends (a refused job ends too, with no result).
    p.result_info.change(None, js=SHOW_RESULT_JS, **PRIVATE)


def _wire_api(app: App) -> None:
    """The public endpoints: /erase, /cleanup, /remove_text, /local and /select (hidden, named events)."""
    opts = app.options
    image = gr.File(type="filepath", visible=False, label="image")
    mask = gr.File(type="filepath", visible=False, label="mask")
    prompt = gr.Textbox(visible=False, label="prompt")
    fmt = gr.Textbox(visible=False, label="output_format", value="jpeg")
    key = gr.Textbox(visible=False, label="api_key", type="password")
    result = gr.File(visible=False, label="result")
    novita: dict[str, Any] = {"concurrency_id": "novita", "concurrency_limit": opts.novita_concurrency}
    erase, cleanup, remove_text, local = endpoints(app)  # their docstrings are the MCP tools' descriptions
    gr.Button(visible=False).click(erase, [image, mask, prompt, fmt, key], result, api_name="erase", **novita)
    gr.Button(visible=False).click(cleanup, [image, mask, fmt, key], result, api_name="cleanup", **novita)
    text = gr.Button(visible=False)
    text.click(remove_text, [image, fmt, key], result, api_name="remove_text", **novita)
    # /local too reads its upload at once and waits for the memory budget and an image worker: waiting in
    # Gradio's queue instead, its upload aged past the cache sweep (10 min) and was gone (bench_memory).
    gr.Button(visible=False).click(
        local,
        [image, mask, fmt],
        result,
        api_name="local",
        concurrency_id="local-api",
        concurrency_limit=opts.novita_concurrency,
    )
    box = gr.Textbox(visible=False, label="box")
    grow = gr.Number(visible=False, label="grow", value=0, precision=0)
    outline = gr.File(visible=False, label="mask")
    gr.Button(visible=False).click(
        select_endpoint(app),
        [image, box, grow],
        outline,
        api_name="select",
        concurrency_id="local-api",
        concurrency_limit=opts.novita_concurrency,
    )


def launch_kwargs(
    options: Options | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    auth: tuple[str, str] | None = None,
    mcp: bool = False,
) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch`` (after ``demo.queue(**queue_kwargs(options))``)."""
    opts = options or Options()
    # protect.py: sign-in on every route (the MCP route with HTTP Basic), throttled sign-in; inside it,
    # pagecache.py: the page, config and API info built once, not per request; inside that, early_script.py:
    # the page's first script, ahead of Gradio's modules.
    middleware = [protect.middleware(), pagecache.middleware(), early_script.middleware(EARLY_SCRIPT)]
    app_kwargs: dict[str, Any] = {"middleware": middleware}
    app_kwargs |= agents.loopback_app_kwargs(auth) if mcp else {}
    return {
        "mcp_server": mcp,  # the public endpoints as MCP tools at /gradio_api/mcp/ (agents.py)
        "server_name": host,
        "server_port": port,
        "share": share,
        "auth": auth,
        "auth_message": "Sign in to remove objects from photos." if auth else None,
        "max_file_size": opts.max_file_size,
        "run_history": False,  # history would keep every input, the API key included, in localStorage
        "ssr_mode": False,
        "show_error": False,  # only gr.Error texts reach the page; anything else is logged server-side
        "footer_links": ["api"],
        "js": _page_script(opts),
        "css": CSS + EDITOR_CSS + SELECT_CSS,
        # CSS Gradio must not scope to its app column (the page's margins); the editor's drawing without a GPU
        "head": EDITOR_HEAD + SOFTWARE_WEBGL_HEAD,
        "theme": gr.themes.Default(primary_hue="indigo"),
        "app_kwargs": app_kwargs,
    }


def _page_script(opts: Options) -> str:
    """The page's script, then the editor's (shortcuts, brush size, compare)."""
    extra = editor_js(
        size=editor_config.BRUSH_RADIUS, minimum=editor_config.BRUSH_MIN, maximum=editor_config.BRUSH_MAX
    )
    return f"() => {{ ({page_js(opts.max_file_size)})(); ({extra})(); ({SELECT_JS})(); }}"


def queue_kwargs(options: Options | None = None) -> dict[str, Any]:
    """Keyword arguments for ``demo.queue``: bounded, so a flood gets "busy, try again" instead of waiting."""
    opts = options or Options()
    return {"max_size": opts.queue_size, "default_concurrency_limit": opts.novita_concurrency}
