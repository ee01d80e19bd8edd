"""The page: its components (with the element ids the page script and the browser tests rely on), the
events that connect them to :class:`App`, the three public endpoints, and how to queue and launch it all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from .. import storage
from ..config import Settings
from . import agents, protect
from . import editor as editor_config
from .editor_page import EDITOR_CSS, editor_js
from .handlers import App
from .helpers import CACHE_SWEEP, ENGINE_LABELS, FORMATS, QUALITY_LABELS, Options, engine_note
from .page import CSS, GATHER_JS, LOADED_JS, PAGE_JS, PREPARING_JS, SHOW_RESULT_JS, engine_note_js
from .tools import endpoints


@dataclass
class _Page:
    """The components the events connect (one per build_app call)."""

    editor: gr.ImageEditor
    clear_mask: gr.Button
    engine: gr.Radio
    quality: gr.Radio
    note: gr.Markdown
    api_key: gr.Textbox
    prompt: gr.Textbox
    remove: gr.Button
    status: gr.Markdown
    fmt: gr.Radio
    grow: gr.Slider
    mask_upload: gr.File
    enterprise: gr.Checkbox
    whole_photo: gr.Checkbox
    slider: gr.ImageSlider
    download: gr.DownloadButton
    keep: gr.Button
    history: gr.Gallery
    workspace: gr.State
    history_state: gr.State
    current: gr.State
    photo_sink: gr.UploadButton
    layer_sink: gr.File
    canvas_sink: gr.File
    novita_ticket: gr.Textbox
    offline_ticket: gr.Textbox
    photo_info: gr.Textbox
    result_info: gr.Textbox


def build_app(settings: Settings, options: Options | None = None, *, app: App | None = None) -> gr.Blocks:
    """The whole page. Launch it with ``demo.queue(**queue_kwargs(o)).launch(**launch_kwargs(o, ...))``."""
    app = app or App(settings, options)
    demo = gr.Blocks(title="Remove objects from photos", delete_cache=CACHE_SWEEP)
    with demo:
        page = _layout(app)
        _wire(app, demo, page)
        _wire_api(app)
        # Gradio's sweeper skips every path a block lists in keep_in_cache: an open tab's photo, previews
        # and results go with their session (ScratchSpace), not after CACHE_SWEEP's age.
        gr.State().keep_in_cache = _KeptScratch(app.scratch)  # type: ignore[assignment]
    return demo


class _KeptScratch:
    """What Gradio's cache sweeper reads as a set of paths to leave alone: the scratch's kept files."""

    def __init__(self, scratch: storage.ScratchSpace) -> None:
        self.scratch = scratch
        self.extra: set[str] = set()  # in case Gradio ever adds a path of its own

    def __iter__(self) -> Iterator[str]:
        yield from self.scratch.kept
        yield from list(self.extra)

    def add(self, path: str) -> None:
        self.extra.add(path)


def _layout(app: App) -> _Page:
    opts = app.options
    default_engine = "Novita Eraser" if app.has_server_key else "Offline"
    gr.Markdown(
        "## Remove objects from photos\n"
        "Drop a photo on the editor (or click it, or paste with Ctrl+V), paint over what should go, "
        "press **Remove**."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=340):
            editor = gr.ImageEditor(
                label="Photo",
                elem_id="editor",
                type="filepath",
                sources=["upload"],
                transforms=(),
                layers=False,
                brush=editor_config.brush(),
                eraser=editor_config.eraser(),
                height=opts.editor_height,
                buttons=["fullscreen"],
                placeholder="# Drop a photo here\nor click to choose one",
            )
            with gr.Row(equal_height=False):
                editor_config.brush_size_slider()
                clear_mask = gr.Button(
                    "Clear the mask (keep the photo)", elem_id="clear-mask", size="sm", variant="secondary"
                )
            editor_config.shortcuts_note()
        with gr.Column(scale=2, min_width=300):
            engine = gr.Radio(list(ENGINE_LABELS), value=default_engine, label="Engine", elem_id="engine")
            note = gr.Markdown(engine_note(default_engine, "", app.has_server_key), elem_id="engine-note")
            quality = gr.Radio(
                list(QUALITY_LABELS),
                value="Auto",
                label="Offline quality",
                info="Fast: smooth fill, best for thin strokes. Texture: copies nearby texture into wide "
                "areas, slower. Auto picks by the shape of the mask.",
                elem_id="offline-quality",
            )
            api_key = gr.Textbox(
                label="Novita API key" + (" (optional)" if app.has_server_key else ""),
                type="password",
                elem_id="api-key",
                max_lines=1,
                placeholder="sk_...",
                info="Used for this tab's requests only, never stored."
                + (" Without it, the server's key is used." if app.has_server_key else ""),
            )
            prompt = gr.Textbox(
                label="What to remove (Novita Eraser only)",
                placeholder="e.g. dog",
                elem_id="prompt",
                max_lines=1,
            )
            remove = gr.Button("Remove", variant="primary", elem_id="remove")
            status = gr.Markdown("Drop a photo on the editor to start.", elem_id="status")
            with gr.Row():
                fmt = gr.Radio(
                    list(FORMATS),
                    value="jpeg",
                    label="Output format",
                    elem_id="format",
                    scale=3,
                    min_width=250,
                )
                grow = gr.Slider(
                    0, 64, value=0, step=1, label="Grow mask (px)", elem_id="grow", scale=2, min_width=150
                )
            mask_upload = gr.File(
                label="Or upload a mask (white = remove)",
                file_types=["image"],
                type="filepath",
                elem_id="mask-upload",
                height=120,
            )
            enterprise = gr.Checkbox(label="Novita Cleanup: use my enterprise plan", elem_id="enterprise")
            whole_photo = gr.Checkbox(
                label="Photos over 16 MP: send Novita the whole photo, shrunk to fit, instead of a "
                "full-resolution crop around what you painted",
                elem_id="whole-photo",
            )
    gr.Markdown("### Result", elem_id="results-title")
    slider = gr.ImageSlider(
        label="Before / after",
        type="filepath",
        elem_id="result-slider",
        interactive=False,
        max_height=520,
        buttons=["fullscreen"],
    )
    with gr.Row():
        gr.Button("Hold to see the original", elem_id="compare", size="sm", variant="secondary")
        download = gr.DownloadButton("Download", elem_id="download", interactive=False, variant="primary")
        keep = gr.Button("Keep editing this result", elem_id="keep-editing", interactive=False)
    history = gr.Gallery(
        label="This session's results (click one to show it again)",
        elem_id="history",
        columns=8,
        height=150,
        allow_preview=False,
        object_fit="contain",
    )
    return _Page(
        editor=editor,
        clear_mask=clear_mask,
        engine=engine,
        quality=quality,
        note=note,
        api_key=api_key,
        prompt=prompt,
        remove=remove,
        status=status,
        fmt=fmt,
        grow=grow,
        mask_upload=mask_upload,
        enterprise=enterprise,
        whole_photo=whole_photo,
        slider=slider,
        download=download,
        keep=keep,
        history=history,
        workspace=gr.State(None),
        history_state=gr.State([]),
        current=gr.State(None),
        # Hidden plumbing (package docstring); visible="hidden" keeps them in the DOM for the page script.
        photo_sink=gr.UploadButton("photo-sink", elem_id="photo-sink", type="filepath", visible="hidden"),
        layer_sink=gr.File(elem_id="layer-sink", type="filepath", file_count="multiple", visible="hidden"),
        canvas_sink=gr.File(elem_id="canvas-sink", type="filepath", visible="hidden"),
        novita_ticket=gr.Textbox(elem_id="novita-ticket", visible="hidden"),
        offline_ticket=gr.Textbox(elem_id="offline-ticket", visible="hidden"),
        photo_info=gr.Textbox(elem_id="photo-info", visible="hidden"),
        result_info=gr.Textbox(elem_id="result-info", visible="hidden"),
    )


def _wire(app: App, demo: gr.Blocks, p: _Page) -> None:
    """Events. The editor is never an input of a server event nor a progress target (package docstring)."""
    private: dict[str, Any] = {"api_visibility": "private"}
    opts = app.options
    to_editor = [p.editor, p.workspace, p.status, p.photo_info]
    loading = p.photo_sink.upload(
        # Progress goes to a hidden box: the page script's "Loading photo..." overlay is the visible feedback.
        app.load_photo,
        p.photo_sink,
        to_editor,
        show_progress_on=[p.photo_info],
        concurrency_id="load",
        concurrency_limit=opts.offline_concurrency,
        **private,
    )
    loading.then(None, js=LOADED_JS, **private)
    note_js = engine_note_js(
        {label: engine_note(label, "", app.has_server_key) for label in ENGINE_LABELS},
        {label: engine_note(label, "key", app.has_server_key) for label in ENGINE_LABELS},
    )
    p.engine.change(None, [p.engine, p.api_key], p.note, js=note_js, **private)
    # .change, not .input: Gradio's Textbox fires .input on key presses only, so a pasted key would leave
    # the note saying a key is needed.
    p.api_key.change(None, [p.engine, p.api_key], p.note, js=note_js, **private)
    p.remove.click(None, None, p.status, js=PREPARING_JS, **private)  # instant feedback, before the export
    p.remove.click(
        None,
        [p.editor, p.engine, p.novita_ticket, p.offline_ticket],
        [p.layer_sink, p.canvas_sink, p.novita_ticket, p.offline_ticket],
        js=GATHER_JS,
        **private,
    )
    outputs = [p.slider, p.download, p.keep, p.history, p.history_state, p.current, p.status, p.result_info]
    inputs = [
        p.layer_sink,
        p.canvas_sink,
        p.mask_upload,
        p.prompt,
        p.fmt,
        p.grow,
        p.enterprise,
        p.whole_photo,
        p.api_key,
        p.workspace,
        p.history_state,
        p.quality,
    ]
    for ticket, queue, limit in (
        (p.novita_ticket, "novita", opts.novita_concurrency),
        (p.offline_ticket, "offline", opts.offline_concurrency),
    ):
        running = ticket.change(
            app.run_removal,
            [ticket, *inputs],
            outputs,
            concurrency_id=queue,
            concurrency_limit=limit,
            show_progress_on=[p.status],
            trigger_mode="multiple",
            **private,
        )
        running.success(None, js=SHOW_RESULT_JS, **private)
    p.keep.click(
        app.keep_editing,
        p.current,
        to_editor,
        show_progress_on=[p.photo_info],
        concurrency_id="load",
        **private,
    )
    p.clear_mask.click(
        app.clear_mask,
        p.workspace,
        p.editor,
        show_progress_on=[p.photo_info],
        concurrency_id="load",
        **private,
    )
    p.history.select(
        app.show_history,
        p.history_state,
        [p.slider, p.download, p.current],
        show_progress="hidden",
        concurrency_id="load",
        **private,
    )
    demo.unload(app.forget_session)


def _wire_api(app: App) -> None:
    """The three public endpoints: /erase, /cleanup, /local (hidden components, named events)."""
    opts = app.options
    image = gr.File(type="filepath", visible=False, label="image")
    mask = gr.File(type="filepath", visible=False, label="mask")
    prompt = gr.Textbox(visible=False, label="prompt")
    fmt = gr.Textbox(visible=False, label="output_format", value="jpeg")
    key = gr.Textbox(visible=False, label="api_key", type="password")
    result = gr.File(visible=False, label="result")
    novita: dict[str, Any] = {"concurrency_id": "novita", "concurrency_limit": opts.novita_concurrency}
    erase, cleanup, local = endpoints(app)  # their docstrings are the MCP tools' descriptions
    gr.Button(visible=False).click(erase, [image, mask, prompt, fmt, key], result, api_name="erase", **novita)
    gr.Button(visible=False).click(cleanup, [image, mask, fmt, key], result, api_name="cleanup", **novita)
    gr.Button(visible=False).click(
        local,
        [image, mask, fmt],
        result,
        api_name="local",
        concurrency_id="offline",
        concurrency_limit=opts.offline_concurrency,
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
    # protect.py: sign-in on every route (the MCP route with HTTP Basic), throttled sign-in.
    app_kwargs = protect.app_kwargs() | (agents.loopback_app_kwargs(auth) if mcp else {})
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
        "css": CSS + EDITOR_CSS,
        "theme": gr.themes.Default(primary_hue="indigo"),
        "app_kwargs": app_kwargs,
    }


def _page_script(opts: Options) -> str:
    """The page's script, then the editor's (shortcuts, brush size, compare)."""
    extra = editor_js(
        size=editor_config.BRUSH_RADIUS, minimum=editor_config.BRUSH_MIN, maximum=editor_config.BRUSH_MAX
    )
    return f"() => {{ ({PAGE_JS % {'max_bytes': opts.max_file_size}})(); ({extra})(); }}"


def queue_kwargs(options: Options | None = None) -> dict[str, Any]:
    """Keyword arguments for ``demo.queue``: bounded, so a flood gets "busy, try again" instead of waiting."""
    opts = options or Options()
    return {"max_size": opts.queue_size, "default_concurrency_limit": opts.novita_concurrency}
