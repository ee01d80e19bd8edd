"""The page's components, with the element ids the page script and the browser tests rely on (#editor,
#select-tool,
#clear-mask, #mask-upload, #prompt, #engine, #format, #grow, #enterprise, #api-key, #remove, #remove-text,
#status, #result-slider, #download, #keep-editing, #history; hidden: #photo-sink, #photo-removed,
#stroke-sink, #novita-job, #offline-job, #jobs-started, #action-stamp, #photo-info,
#result-info, #selection, #select-run, #select-undo).
``wiring.py`` connects them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import gradio as gr

from novita_ui.ui import editor as editor_config
from novita_ui.ui.options import GROW_LIMIT, Options
from novita_ui.ui.session import Session
from novita_ui.ui.texts import (
    DEFAULT_QUALITY,
    ENGINE_LABELS,
    FORMATS,
    KEEP_LABEL,
    QUALITY_LABELS,
    REMOVE_LABEL,
    engine_note,
)


@dataclass
class Page:
    """The components the events connect (one per build_app call); events name them by field name."""

    editor: gr.ImageEditor
    select_tool: gr.Button  # toggles the page script's box mode (assets/select_page.py)
    clear_mask: gr.Button
    engine: gr.Radio
    quality: gr.Radio
    note: gr.Markdown
    api_key: gr.Textbox
    prompt: gr.Textbox
    remove: gr.Button
    remove_text: gr.Button  # Novita remove-text on the whole photo: no mask, no engine choice
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
    session: gr.State
    photo_sink: gr.UploadButton
    photo_removed: gr.Button
    stroke_sink: gr.File  # the strokes painted when a mask file arrives or goes: they stay in the editor
    novita_job: gr.JSON
    offline_job: gr.JSON
    jobs: gr.Number  # the tab's job count as the page last heard it (session.py: a click counts once)
    act: gr.Number  # the stamp of the photo or mask action being sent (session.py: the latest wins)
    photo_info: gr.Textbox
    result_info: gr.Textbox
    selection: gr.JSON  # the box the user dragged, with the photo version (select_page.SELECTION_JS)
    select_run: gr.Button
    select_undo: gr.Button

    def named(self, *names: str) -> dict[str, Any]:
        """The components called ``names`` (the keys a handler's changes use)."""
        known = {f.name for f in fields(self)}
        unknown = set(names) - known
        if unknown:
            raise KeyError(f"no component named {sorted(unknown)}")
        return {name: getattr(self, name) for name in names}


def build_page(options: Options, has_server_key: bool) -> Page:
    """Lay out the components (inside a ``gr.Blocks``) and return them by name."""
    opts = options
    default_engine = "Novita Eraser" if has_server_key else "Offline"
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
                select_tool = gr.Button(
                    "Select an object: drag a box",
                    elem_id="select-tool",
                    size="sm",
                    variant="secondary",
                    min_width=120,
                )
                editor_config.brush_size_slider()
                clear_mask = gr.Button(
                    "Clear the mask (keep the photo)", elem_id="clear-mask", size="sm", variant="secondary"
                )
            editor_config.shortcuts_note()
        with gr.Column(scale=2, min_width=300):
            engine = gr.Radio(list(ENGINE_LABELS), value=default_engine, label="Engine", elem_id="engine")
            note = gr.Markdown(engine_note(default_engine, "", has_server_key), elem_id="engine-note")
            quality = gr.Radio(
                list(QUALITY_LABELS),
                value=DEFAULT_QUALITY,
                label="Offline quality",
                info="Fast: smooth fill, best for thin strokes. Texture: copies nearby texture into wide "
                "areas, slower. Auto picks by the shape of the mask.",
                elem_id="offline-quality",
            )
            api_key = gr.Textbox(
                label="Novita API key" + (" (optional)" if has_server_key else ""),
                type="password",
                elem_id="api-key",
                max_lines=1,
                placeholder="sk_...",
                info="Used for this tab's requests only, never stored."
                + (" Without it, the server's key is used." if has_server_key else ""),
            )
            prompt = gr.Textbox(
                label="What to remove (Novita Eraser only)",
                placeholder="e.g. dog",
                elem_id="prompt",
                max_lines=1,
            )
            # The format sits above Remove, so the first screen has photo, engine, format and Remove.
            with gr.Row():
                fmt = gr.Radio(
                    list(FORMATS),
                    value="jpeg",
                    label="Output format",
                    info="A HEIC or AVIF photo comes back as JPEG unless you pick PNG or WebP.",
                    elem_id="format",
                    scale=3,
                    min_width=250,
                )
                grow = gr.Slider(
                    -GROW_LIMIT,
                    GROW_LIMIT,
                    value=0,
                    step=1,
                    label="Grow mask (px; negative shrinks it)",
                    elem_id="grow",
                    scale=2,
                    min_width=150,
                )
            remove = gr.Button(
                REMOVE_LABEL, variant="primary", elem_id="remove", interactive=False
            )  # no photo yet
            remove_text = gr.Button(
                "Remove all text (Novita: captions, watermarks, signs; no painting needed)",
                elem_id="remove-text",
                size="sm",
            )
            status = gr.Markdown("Drop a photo on the editor to start.", elem_id="status")
            mask_upload = gr.File(
                label="Or upload a mask file: its white areas go (drawn in pink on the photo)",
                file_types=["image"],
                type="filepath",
                elem_id="mask-upload",
            )
            # What most people never need, folded away: the first screen is photo, engine, format, Remove.
            with gr.Accordion("More options", open=False, elem_id="more-options"):
                enterprise = gr.Checkbox(
                    label="Novita Cleanup: use my enterprise plan", elem_id="enterprise"
                )
                whole_photo = gr.Checkbox(
                    label="Photos over 16 MP: send Novita the whole photo, shrunk to fit, instead of a "
                    "full-resolution crop around what you painted",
                    elem_id="whole-photo",
                )
    gr.Markdown("### Result", elem_id="results-title")
    slider = gr.ImageSlider(
        label="After (drag the handle to compare)",
        type="filepath",
        elem_id="result-slider",
        interactive=False,
        max_height=520,
        buttons=["fullscreen"],
        # The handle starts at the left edge: the result shows whole at first sight (at 50 % a removal in
        # the left half looked as if nothing had changed); dragging it right shows the photo as it was.
        slider_position=0,
    )
    with gr.Row():
        gr.Button("Hold to see the original", elem_id="compare", size="sm", variant="secondary")
        download = gr.DownloadButton("Download", elem_id="download", interactive=False, variant="primary")
        # Shown with the first result (removal.py): before it, it would be a button that does nothing.
        keep = gr.Button(KEEP_LABEL, elem_id="keep-editing", visible=False)
    history = gr.Gallery(
        label="This session's results (click one to show it again)",
        elem_id="history",
        columns=8,
        height=150,
        allow_preview=False,
        object_fit="contain",
    )
    return Page(
        editor=editor,
        select_tool=select_tool,
        clear_mask=clear_mask,
        engine=engine,
        quality=quality,
        note=note,
        api_key=api_key,
        prompt=prompt,
        remove=remove,
        remove_text=remove_text,
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
        session=gr.State(Session()),  # deep-copied for each tab
        # Hidden plumbing (package docstring); visible="hidden" keeps them in the DOM for the page script.
        photo_sink=gr.UploadButton("photo-sink", elem_id="photo-sink", type="filepath", visible="hidden"),
        photo_removed=gr.Button("photo-removed", elem_id="photo-removed", visible="hidden"),
        stroke_sink=gr.File(elem_id="stroke-sink", type="filepath", file_count="multiple", visible="hidden"),
        novita_job=gr.JSON(elem_id="novita-job", visible="hidden"),
        offline_job=gr.JSON(elem_id="offline-job", visible="hidden"),
        jobs=gr.Number(0, elem_id="jobs-started", precision=0, visible="hidden"),
        act=gr.Number(0, elem_id="action-stamp", precision=0, visible="hidden"),
        photo_info=gr.Textbox(elem_id="photo-info", visible="hidden"),
        result_info=gr.Textbox(elem_id="result-info", visible="hidden"),
        selection=gr.JSON(elem_id="selection", visible="hidden"),
        select_run=gr.Button("select-run", elem_id="select-run", visible="hidden"),
        select_undo=gr.Button("select-undo", elem_id="select-undo", visible="hidden"),
    )
