"""Driving the web app in a real browser (Python playwright + Debian's /usr/bin/chromium).

The pieces, in the order a scenario uses them (fixtures in ``conftest.py`` start the servers and the browser):

    page.goto(app.url); wait_app_ready(page)
    drop_file(page, photo)           # or upload_by_input / paste_file
    info = wait_editor_ready(page)   # {"name", "size": original [w, h], "preview": canvas [w, h]}
    points = paint_stroke(page, (0.4, 0.5), (0.6, 0.5))   # returns ORIGINAL-image pixel coordinates
    choose_engine(page, "Offline"); choose_format(page, "png"); set_prompt(page, "dog")
    click_remove(page); result = wait_result(page)          # the #result-info JSON (name, size, format...)
    name, data = download(page)                              # the full-resolution file, as the user saves it
    assert not toasts(page); shot(page, "after-remove")

Element ids are a contract (see novita_ui/ui/layout.py): #editor #clear-mask #mask-upload #prompt #engine
#format #grow #enterprise #api-key #remove #status #result-slider #download #keep-editing #history, plus the
hidden #photo-info and #result-info textboxes that expose what the server knows. Waits retry until a deadline;
nothing sleeps a fixed time. Screenshots go to test-output/screenshots/ (git-ignored).

Also here: ``select_tool`` (TOOL_BRUSH / TOOL_ERASER; UNDO, REDO, CLEAR are the toolbar selectors),
``upload_mask``, ``set_grow``, ``set_api_key``, ``wait_toast``, ``status_text``, ``photo_info``,
``result_info``, ``track_uploads`` + ``uploaded`` (bytes the page sent per upload), ``start_app`` /
``stop_app`` (``python app.py`` in a subprocess) and ``chromium_context``.

Two things to know: a background tab gets its animation frames throttled (``wait_app_ready`` brings the tab
to the front), and under SwiftShader each brush move costs ~0.5-1 s, so keep strokes to a few points.
After a result the page scrolls to it; ``paint_stroke`` scrolls the editor back into view first.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import tempfile
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Re-exported: browser tests and benchmarks start their apps through these helpers too.
from tests.app_process import AppServer as AppServer
from tests.app_process import free_port as free_port
from tests.app_process import start_app as start_app
from tests.app_process import stop_app as stop_app

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# What works as root on these machines (see /work/shared/notes/gradio-6.md); WebGL runs on SwiftShader.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# Selectors inside Gradio 6.31's ImageEditor (#editor).
EDITOR_FILE_INPUT = '#editor input[data-testid="file-upload"]'
EDITOR_DROP_ZONE = '#editor [data-testid="image"]'
EDITOR_CANVAS = "#editor .pixi-target canvas"
EDITOR_PLACEHOLDER = "#editor .empty.wrap"
# A JavaScript expression: the photo is in the editor, i.e. the last sprite of its background layer holds a
# decoded image (the blank canvas's sprite has none).
PHOTO_IN_EDITOR = (
    "!!(window.editor?.layer_manager?.background_layer?.children || []).at(-1)?.texture?.source?.resource"
)
# A JavaScript function: how the editor draws (editor_page.SOFTWARE_WEBGL_HEAD changes it without a GPU):
# the texture units PIXI was given, the filters (Gradio's drop shadow) on the canvas's outline, the canvas.
EDITOR_DRAWING = """() => {
  const editor = window.editor, app = editor.app, gl = app.renderer.gl;
  return {units: gl.getParameter(gl.MAX_TEXTURE_IMAGE_UNITS),
          shadows: (editor.outline_graphics.filters || []).length,
          canvas: [app.canvas.width, app.canvas.height]};
}"""
EDITOR_ZOOM = "#editor .zoom-number span"
TOOL_BRUSH = '#editor button[aria-label="Brush"]'
TOOL_ERASER = '#editor button[aria-label="Erase"]'
UNDO = '#editor button[aria-label="Undo"]'
REDO = '#editor button[aria-label="Redo"]'
CLEAR = '#editor button[aria-label="Clear canvas"]'
TOAST = '[data-testid="toast-body"]'
SLIDER_IMAGES = "#result-slider img"
# The long waits (a photo, a job, a result) check every 50 ms, not on every animation frame (playwright's
# default): checking each frame makes the waiting page draw 60 frames a second, which cost as much CPU as an
# idle page of Gradio's (page.EARLY_SCRIPT), so the three browser groups slowed the whole suite down.
POLL_MS = 50


def chromium_missing_message() -> str | None:
    """Why the browser tests cannot run here, or None when Chromium is installed."""
    if Path(CHROMIUM).exists():
        return None
    return (
        f"Chromium was not found at {CHROMIUM}. The browser tests need it: run `make chromium` "
        "(apt-get install chromium). Never `playwright install`: it downloads a browser."
    )


# ---- the browser -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def chromium_context(playwright: Any, *, viewport: dict[str, int] | None = None) -> Iterator[Any]:
    """A persistent Chromium context on a fresh profile folder, removed afterwards."""
    missing = chromium_missing_message()
    if missing:
        raise RuntimeError(missing)
    profile = tempfile.mkdtemp(prefix="nu-chromium-")
    context = playwright.chromium.launch_persistent_context(
        profile,
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport=viewport or DESKTOP,
        accept_downloads=True,
    )
    try:
        yield context
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


class PageTrail:
    """A tab's console messages and its requests to the app's API, with the seconds since the tab opened."""

    def __init__(self, page: Any) -> None:
        self.started = time.monotonic()
        self.lines: list[str] = []
        page.on("console", lambda message: self._add(f"console {message.type}: {message.text[:300]}"))
        page.on("request", lambda sent: self._api(sent, "sent"))
        page.on("requestfinished", lambda sent: self._api(sent, "answered"))
        page.on("requestfailed", lambda sent: self._api(sent, f"failed ({sent.failure})"))

    def _add(self, line: str) -> None:
        self.lines.append(f"{time.monotonic() - self.started:8.2f} s  {line}")

    def _api(self, sent: Any, what: str) -> None:
        if "/gradio_api/" in sent.url:
            self._add(f"{what} {sent.method} {sent.url.split('/gradio_api/', 1)[1][:100]}")

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.lines) + "\n")


def wait_app_ready(page: Any, timeout: float = 30_000) -> None:
    """Bring the tab to the front and wait until the editor's canvas exists (the page script is installed).

    A background tab gets its animation frames throttled, which makes the canvas (and these tests) crawl.
    """
    page.bring_to_front()
    page.wait_for_selector(EDITOR_CANVAS, timeout=timeout)
    page.wait_for_selector('input[data-testid="photo-sink-upload-button"]', state="attached", timeout=timeout)


_TRACK_UPLOADS_JS = """
(() => {
  window.__nuUploads = [];
  const original = window.fetch;
  window.fetch = function (input, init) {
    const body = init && init.body;
    if (body instanceof FormData) {
      let size = 0;
      for (const [, value] of body.entries()) {
        size += value instanceof Blob ? value.size : String(value).length;
      }
      window.__nuUploads.push(size);
    }
    return original.apply(this, arguments);
  };
})();
"""


def track_uploads(page: Any) -> None:
    """Count the bytes of every file the page uploads (call before ``page.goto``)."""
    page.add_init_script(_TRACK_UPLOADS_JS)


def uploaded(page: Any) -> list[int]:
    """Bytes per upload request since the page loaded (needs :func:`track_uploads`)."""
    return [int(n) for n in page.evaluate("() => window.__nuUploads || []")]


_HOLD_EVENTS_JS = """
(() => {
  // An event's request to the server (queue/join) held until the test releases it, and the ids of the
  // events the server has completed (read from Gradio's data stream): the order the server handles
  // events in becomes the test's choice, and a test waits for an event's end, never for a moment.
  const original = window.fetch;
  window.__nuHold = null; window.__nuHeld = null; window.__nuDone = []; window.__nuEvent = {};
  let release = null;
  window.__nuRelease = () => { if (release) release(); release = null; };
  window.fetch = async function (input, init) {
    const url = typeof input === 'string' ? input : (input && input.url) || '';
    const body = init && init.body;
    const marker = window.__nuHold;
    if (url.includes('queue/join') && marker && typeof body === 'string' && body.includes(marker)) {
      window.__nuHold = null; window.__nuHeld = marker;
      await new Promise((resolve) => { release = resolve; });
      const answer = await original.apply(this, arguments);
      answer.clone().json().then((j) => { window.__nuEvent[marker] = j.event_id; });
      return answer;
    }
    const answer = await original.apply(this, arguments);
    if (!url.includes('queue/data') || !answer.body) return answer;
    const [mine, theirs] = answer.body.tee();
    (async () => {
      const reader = mine.getReader(); const decoder = new TextDecoder(); let text = '';
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        text += decoder.decode(value, {stream: true});
        let end;
        while ((end = text.indexOf('\\n')) >= 0) {
          const line = text.slice(0, end); text = text.slice(end + 1);
          if (!line.startsWith('data:')) continue;
          try {
            const message = JSON.parse(line.slice(5));
            if (message.msg === 'process_completed') window.__nuDone.push(message.event_id);
          } catch (e) { /* not JSON: a keep-alive */ }
        }
      }
    })().catch(() => { /* Gradio closed the stream (its abort): nothing more to read */ });
    const {status, statusText, headers} = answer;
    return new Response(theirs, {status, statusText, headers});
  };
})();
"""


def hold_events(page: Any) -> None:
    """Let the test hold an event's request to the server (call before ``page.goto``): see ``hold_next``."""
    page.add_init_script(_HOLD_EVENTS_JS)


def hold_next(page: Any, marker: str) -> None:
    """The next event whose request names ``marker`` (a file name, say) waits for :func:`release`."""
    page.evaluate("(marker) => { window.__nuHold = marker; window.__nuHeld = null; }", marker)


def wait_held(page: Any, marker: str) -> None:
    """Wait until the event naming ``marker`` has been fired by the page and is being held."""
    page.wait_for_function("(marker) => window.__nuHeld === marker", arg=marker, polling=POLL_MS)


def release(page: Any, marker: str, timeout: float = 60_000) -> None:
    """Send the held event to the server and wait until the server has completed it."""
    page.evaluate("() => window.__nuRelease()")
    page.wait_for_function(
        "(marker) => marker in window.__nuEvent && window.__nuDone.includes(window.__nuEvent[marker])",
        arg=marker,
        polling=POLL_MS,
        timeout=timeout,
    )


def upload_by_input(page: Any, path: str | Path) -> None:
    """Click-to-upload: choose a file in the editor's own file input."""
    page.set_input_files(EDITOR_FILE_INPUT, str(path))


def _stage_file(page: Any, path: str | Path) -> None:
    """Put the file into a scratch <input> in the page (fast: no base64 through the protocol)."""
    page.evaluate(
        """() => { if (!document.getElementById('nu-test-file')) {
            const input = document.createElement('input');
            input.type = 'file'; input.id = 'nu-test-file'; input.style.display = 'none';
            document.body.appendChild(input); } }"""
    )
    page.set_input_files("#nu-test-file", str(path))


def drop_file(page: Any, path: str | Path, selector: str = EDITOR_DROP_ZONE) -> None:
    """A real drag-and-drop: dragenter, dragover and drop with a DataTransfer holding the file."""
    _stage_file(page, path)
    page.evaluate(
        """(selector) => {
            const staged = document.getElementById('nu-test-file');
            const dt = new DataTransfer(); dt.items.add(staged.files[0]);
            const el = document.querySelector(selector); const r = el.getBoundingClientRect();
            const options = {bubbles: true, cancelable: true, composed: true, dataTransfer: dt,
                             clientX: r.x + r.width / 2, clientY: r.y + r.height / 2};
            for (const type of ['dragenter', 'dragover', 'drop']) {
                el.dispatchEvent(new DragEvent(type, options));
            }
            staged.remove();
        }""",
        selector,
    )


def paste_file(page: Any, path: str | Path) -> None:
    """Paste (Ctrl+V) an image: a paste event whose clipboardData holds the file."""
    _stage_file(page, path)
    page.evaluate(
        """() => {
            const staged = document.getElementById('nu-test-file');
            const dt = new DataTransfer(); dt.items.add(staged.files[0]);
            document.body.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true}));
            staged.remove();
        }"""
    )


def photo_info(page: Any) -> dict[str, Any]:
    """What the server loaded: name, original size and working-canvas size ({} before any photo)."""
    raw = page.input_value("#photo-info textarea")
    return json.loads(raw) if raw else {}


def wait_editor_ready(
    page: Any, previous: dict[str, Any] | None = None, timeout: float = 60_000
) -> dict[str, Any]:
    """Wait for a newly loaded photo (one whose #photo-info differs from ``previous``) to be paintable.

    Returns #photo-info: {"id", "name", "size": original [w, h], "preview": working canvas [w, h]}.
    """
    page.wait_for_function(
        """(old) => { const v = document.querySelector('#photo-info textarea')?.value || '';
                      return v && v !== old && !document.querySelector('#editor.nu-loading'); }""",
        arg=json.dumps(previous) if previous else "",
        polling=POLL_MS,
        timeout=timeout,
    )
    page.wait_for_selector(EDITOR_PLACEHOLDER, state="detached", timeout=timeout)
    # On a loaded machine the zoom can settle before the preview image has arrived and been decoded.
    page.wait_for_function(f"() => {PHOTO_IN_EDITOR}", polling=POLL_MS, timeout=timeout)
    page.wait_for_function(
        """() => { const z = document.querySelector('#editor .zoom-number span')?.textContent;
            const now = performance.now();
            if (window.__nuZoom !== z) { window.__nuZoom = z; window.__nuZoomAt = now; return false; }
            return now - window.__nuZoomAt > 400; }""",
        polling=100,
        timeout=timeout,
    )
    return photo_info(page)


def settle(page: Any) -> None:
    """Let the canvas finish drawing (two animation frames)."""
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def image_rect(page: Any) -> tuple[float, float, float]:
    """(left, top, zoom) of the working canvas image on screen; the image is centred at the shown zoom."""
    info = photo_info(page)
    pw, ph = info["preview"]
    box = page.locator(EDITOR_CANVAS).bounding_box()
    zoom = float(page.inner_text(EDITOR_ZOOM).strip().rstrip("%")) / 100.0
    left = box["x"] + box["width"] / 2 - pw * zoom / 2
    top = box["y"] + box["height"] / 2 - ph * zoom / 2
    return left, top, zoom


def select_tool(page: Any, tool: str) -> None:
    """Select the brush (TOOL_BRUSH) or the eraser (TOOL_ERASER) unless it is already active."""
    button = page.locator(tool).first
    if "highlight" not in (button.get_attribute("class") or ""):
        button.click()


def paint_stroke(page: Any, *fractions: tuple[float, float], steps: int = 1) -> list[tuple[float, float]]:
    """Drag the brush through points given as fractions of the image; returns ORIGINAL-image pixel points.

    The brush draws the whole segment between two pointer positions, so one move per segment paints it
    (``steps`` > 1 adds moves in between: each one costs a SwiftShader frame, ~0.4 s).

    The returned list samples the painted centre line (9 points per segment), scaled from the working canvas
    to the original photo, so tests can check the full-resolution result exactly where the user painted.
    """
    if len(fractions) < 2:
        raise ValueError("a stroke needs at least two points")
    info = photo_info(page)
    (pw, ph), (ow, oh) = info["preview"], info["size"]
    page.locator("#editor").scroll_into_view_if_needed()  # e.g. after a result scrolled the page down
    select_tool(page, TOOL_BRUSH)
    left, top, zoom = image_rect(page)

    def screen(fx: float, fy: float) -> tuple[float, float]:
        return left + fx * pw * zoom, top + fy * ph * zoom

    page.mouse.move(*screen(*fractions[0]))
    page.mouse.down()
    for (ax, ay), (bx, by) in itertools.pairwise(fractions):
        for i in range(1, steps + 1):
            page.mouse.move(*screen(ax + (bx - ax) * i / steps, ay + (by - ay) * i / steps))
    page.mouse.up()
    # Leave the canvas: while the pointer hovers there, SwiftShader redraws the brush cursor at ~2 frames a
    # second and every later action waits for those frames.
    page.mouse.move(0, 0)
    settle(page)
    points = []
    for (ax, ay), (bx, by) in itertools.pairwise(fractions):
        for i in range(9):
            t = 0.1 + 0.8 * i / 8
            points.append(((ax + (bx - ax) * t) * ow, (ay + (by - ay) * t) * oh))
    return points


def choose_engine(page: Any, label: str) -> None:
    """Pick "Novita Eraser", "Novita Cleanup" or "Offline"."""
    page.click(f'#engine [data-testid="{label}-radio-label"]')


def choose_format(page: Any, fmt: str) -> None:
    """Pick the output format: jpeg, png or webp."""
    page.click(f'#format [data-testid="{fmt}-radio-label"]')


def set_prompt(page: Any, text: str) -> None:
    """Type what to remove (Novita Eraser)."""
    page.fill("#prompt input, #prompt textarea", text)


def set_api_key(page: Any, key: str) -> None:
    """Type a Novita API key into the password field."""
    page.fill("#api-key input", key)


def set_grow(page: Any, pixels: int) -> None:
    """Set "Grow mask" (the slider's number box)."""
    page.fill('#grow input[type="number"]', str(pixels))
    page.press('#grow input[type="number"]', "Enter")


def upload_mask(page: Any, path: str | Path) -> None:
    """Use the "upload a mask" input instead of painting."""
    page.set_input_files('#mask-upload input[type="file"]', str(path))
    page.wait_for_selector("#mask-upload .file-preview, #mask-upload table", timeout=30_000)


# The result each page showed just before its last click on Remove: a fast job can end before
# wait_result runs, and a wait for "a result other than the one shown now" would then wait forever.
_before_click: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def click_remove(page: Any, button: str = "#remove") -> None:
    """Press Remove (or another button that starts a job, e.g. "#remove-text")."""
    _before_click[page] = page.input_value("#result-info textarea")
    page.click(button)


def result_info(page: Any) -> dict[str, Any]:
    """The last result as the server describes it ({} before any)."""
    raw = page.input_value("#result-info textarea")
    return json.loads(raw) if raw else {}


def wait_result(page: Any, previous: dict[str, Any] | None = None, timeout: float = 60_000) -> dict[str, Any]:
    """Wait for a new result: #result-info changes and the slider's after-image has loaded.

    New means other than `previous`, else than the result shown before the last click_remove, else than
    the one shown now.
    """
    remembered = _before_click.pop(page, None)
    if previous:
        old = json.dumps(previous)
    elif remembered is not None:
        old = remembered
    else:
        old = page.input_value("#result-info textarea")
    page.wait_for_function(
        """(old) => { const v = document.querySelector('#result-info textarea')?.value || '';
                      return v && v !== old; }""",
        arg=old,
        polling=POLL_MS,
        timeout=timeout,
    )
    try:
        page.wait_for_function(
            """() => { const imgs = document.querySelectorAll('#result-slider img');
                       const loaded = (i) => i.complete && i.naturalWidth > 0;
                       return imgs.length >= 2 && Array.from(imgs).every(loaded); }""",
            polling=POLL_MS,
            timeout=timeout,
        )
    except Exception as error:  # say what the slider held: a flaky wait is then diagnosed from the log
        shown = page.evaluate(_SLIDER_STATE_JS)
        raise AssertionError(f"the result was not shown: {shown}; status: {status_text(page)!r}") from error
    return result_info(page)


_SLIDER_STATE_JS = """() => ({
  scrollY: window.scrollY,
  slider: document.querySelector('#result-slider')?.getBoundingClientRect().toJSON(),
  images: Array.from(document.querySelectorAll('#result-slider img')).map((i) => ({
    src: i.src.slice(-60), complete: i.complete, width: i.naturalWidth, loading: i.loading,
    box: i.getBoundingClientRect().toJSON(), display: getComputedStyle(i).display})),
})"""


def download(page: Any, timeout: float = 30_000) -> tuple[str, bytes]:
    """Click the download button; returns (the file name the browser saves, its bytes)."""
    with page.expect_download(timeout=timeout) as pending:
        page.click("#download")
    item = pending.value
    return item.suggested_filename, Path(item.path()).read_bytes()


def download_result(page: Any) -> bytes:
    """The full-resolution result as downloaded."""
    return download(page)[1]


def status_text(page: Any) -> str:
    """The status line under Remove."""
    return str(page.inner_text("#status"))


def toasts(page: Any) -> list[str]:
    """Texts of the toasts on screen (errors, warnings, infos)."""
    return [str(t) for t in page.locator(TOAST).all_inner_texts()]


def wait_toast(page: Any, contains: str, timeout: float = 30_000) -> str:
    """Wait for a toast containing some text; returns its whole text."""
    locator = page.locator(TOAST, has_text=contains)
    locator.first.wait_for(timeout=timeout)
    return str(locator.first.inner_text())


def shot(page: Any, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot as test-output/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


# ---- the session's truth (issue 11): jobs, the Remove button, the toolbar's bin -------------------------


def remove_enabled(page: Any) -> bool:
    """Whether the Remove button can be pressed now."""
    return bool(page.is_enabled("#remove"))


def wait_remove_enabled(page: Any, enabled: bool = True, timeout: float = 30_000) -> None:
    """Wait until Remove is enabled (or disabled)."""
    page.wait_for_function(
        "(on) => { const b = document.querySelector('#remove'); return b && b.disabled === !on; }",
        arg=enabled,
        polling=POLL_MS,
        timeout=timeout,
    )


def press_remove_anyway(page: Any) -> None:
    """A click as the browser delivers it, even on a disabled button (a disabled button ignores it)."""
    page.evaluate("() => document.querySelector('#remove').click()")


def double_click_remove(page: Any) -> None:
    """Two clicks on Remove within a few milliseconds, like an impatient double-click."""
    page.dblclick("#remove")


def wait_status(page: Any, contains: str, timeout: float = 30_000) -> str:
    """Wait for the status line under Remove to contain some text; returns it."""
    page.wait_for_function(
        "(text) => (document.querySelector('#status')?.innerText || '').includes(text)",
        arg=contains,
        polling=POLL_MS,
        timeout=timeout,
    )
    return status_text(page)


def clear_canvas(page: Any) -> None:
    """The editor toolbar's bin button (it removes the photo from the editor)."""
    page.locator(CLEAR).first.click()


def history_count(page: Any) -> int:
    """How many results the history gallery shows."""
    return int(page.locator("#history .thumbnail-item").count())
