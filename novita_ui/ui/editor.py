"""The photo editor's configuration: a translucent brush, its size, and the help line under the canvas.

The editor is Gradio's ``ImageEditor`` (see the package docstring for why its value is read only once, on
Remove). What this project relies on in it (pinned by ``test_the_gradio_pieces_the_page_script_drives`` in
``tests/browser/test_editor.py``): a brush colour given as ``(colour, opacity)`` paints that opacity into the
stroke layer (so a stroke is any pixel with alpha > 0, not alpha > 127), the toolbar buttons' ``aria-label``s
the page script clicks (Brush, Erase, Brush Size, Pan, Undo, Redo) and the range input the Brush Size button
opens. ``assets/editor_page.py`` holds the script and styles that add shortcuts, the size control and
hold-to-compare on top of it.
"""

from __future__ import annotations

import gradio as gr

# BRUSH_RADIUS is in working-canvas pixels. The canvas's longer side is always 768-1024 px
# (previews.canvas_size) whatever the photo's size, so a stroke covers the same share of a 640 px photo and
# of a 12 MP one.
from novita_ui.ui.previews import BRUSH_RADIUS

__all__ = [
    "BRUSH_MAX",
    "BRUSH_MIN",
    "BRUSH_RADIUS",
    "MASK_COLOUR",
    "MASK_OPACITY",
    "SHORTCUTS",
    "brush",
    "brush_size_slider",
    "eraser",
    "shortcuts_note",
]

# Magenta reads on skies, lawns, skin, walls and asphalt alike (red vanished on red objects); at half
# opacity the user still sees the edge being covered, as in IOPaint and cleanup.pictures.
MASK_COLOUR = "#ff00ff"  # masks.BRUSH_PINK draws an uploaded mask in the same colour
MASK_OPACITY = 0.5
BRUSH_MIN, BRUSH_MAX = 2, 100  # the editor's own size slider stops at 100

SHORTCUTS = (
    "**Shortcuts:** `[` / `]` brush size · Ctrl+Z undo · Ctrl+Shift+Z or Ctrl+Y redo · "
    "wheel or pinch: zoom · hold Space and drag: pan · Enter: Remove · "
    "hold C (or the button) to see the original"
)


def brush() -> gr.Brush:
    """The mask brush: one translucent colour, nothing to pick."""
    colour = (MASK_COLOUR, MASK_OPACITY)
    return gr.Brush(default_size=BRUSH_RADIUS, colors=[colour], default_color=colour, color_mode="fixed")


def eraser() -> gr.Eraser:
    """The eraser, as wide as the brush."""
    return gr.Eraser(default_size=BRUSH_RADIUS)


def brush_size_slider() -> gr.Slider:
    """The always-visible size control beside the canvas (the page script keeps it and the editor in step)."""
    return gr.Slider(
        BRUSH_MIN,
        BRUSH_MAX,
        value=BRUSH_RADIUS,
        step=1,
        label="Brush size ( [ and ] )",
        elem_id="brush-size",
        # Not an input of any server event, so Gradio would render it disabled: the page script reads it.
        interactive=True,
        min_width=160,
    )


def shortcuts_note() -> gr.Markdown:
    """The visible list of keyboard shortcuts."""
    return gr.Markdown(SHORTCUTS, elem_id="shortcuts")
