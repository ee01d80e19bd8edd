"""The page's own CSS and JavaScript: plain strings handed to Gradio by ``wiring.py``.

The element ids they use (#editor, #photo-sink, #photo-removed, #result-slider...) are the ones ``layout.py``
gives its components; the browser tests rely on them too. Gradio's own test ids come from ``gradio_seams``.
"""

from __future__ import annotations

import json

from novita_ui.ui.server.gradio_seams import CLEAR_CANVAS_BUTTON, PHOTO_SINK_INPUT, TOAST

CSS = """
#editor { position: relative; }
#editor.nu-loading::after {
  content: "Loading photo…"; position: absolute; inset: 0; display: flex; align-items: center;
  justify-content: center; background: rgba(255, 255, 255, .72); font-size: 1.1rem; font-weight: 600;
  z-index: 50; pointer-events: none;
}
#remove { min-height: 3rem; font-size: 1.05rem; }
#status { min-height: 2.5rem; }
/* The status line already says what failed (and a toast too): Gradio's error badge would only cover it. */
#status [data-testid="status-tracker"]:has(.error) { display: none; }
#engine-note { font-size: .9rem; opacity: .85; }
#results-title { margin-top: .5rem; }
/* The mask file's box: its label above the drop area, not floating over its top edge, where it covered the
   upload icon (all of it on a phone, where the label takes two lines); room kept for the clear button. */
#mask-upload [data-testid="block-label"] { position: static; max-width: calc(100% - 2.5rem); }
#mask-upload .upload-container .wrap { min-height: 0; padding: var(--size-2) 0; }
/* Gradio sizes gallery cells by min(columns, items): keep history thumbnails small however many there are. */
#history .grid-container { grid-template-columns: repeat(auto-fill, minmax(110px, 150px)) !important; }
#history .thumbnail-item { aspect-ratio: 4 / 3; }
/* Phones: a shorter editor, so the photo fills it and the controls are one short scroll away. */
@media (max-width: 640px) { #editor { height: 400px !important; } }
"""

# Runs first in the page's <head>: server.early_script puts it there, ahead of Gradio's modules, which keep
# a reference to requestAnimationFrame from the moment they load. An idle page of Gradio 6.31 asked for 60
# frames a second for as long as the tab was open, ~8 % of a core with nobody touching it (benchmarks/
# bench_editor_frames.py, "idle tab CPU"), from two loops that need far fewer:
# - A status tracker's timer asks for a frame on every frame to count a pending event's seconds, and the
#   page's loading tracker goes on counting after it is gone. Its frames now come every 0.1 s while a tracker
#   shows (the timer shows tenths) and every second while none does.
# - PIXI's tickers: the editor stops its own render loop 0.5 s after the last pointer event, but PIXI's system
#   ticker (pointer-hover re-checks, texture clean-up) ran on. While the editor is idle, their frames come
#   every 0.25 s; the moment it wakes, at once.
# A frame request is only ever delayed, never dropped, so nothing waiting on one can stall.
# window.NU_GRADIO_FRAMES = true (set before the page loads) keeps Gradio's frames, for the benchmark.
EARLY_SCRIPT = """<script>
(() => {
  if (window.NU_GRADIO_FRAMES) return;
  const frame = window.requestAnimationFrame.bind(window), cancel = window.cancelAnimationFrame.bind(window);
  const trackerShown = () => !!document.querySelector('[data-testid="status-tracker"]:not(.hide)');
  const editorIdle = () => { const ticker = window.editor?.app?.ticker; return !!ticker && !ticker.started; };
  // The visible editor draws every frame for 500 ms after anything wakes it (render_idle_remaining counts
  // down); what changes wakes it again. Past the first 150 ms of that tail it draws at ~15 frames a second.
  const editorTail = () => {
    const left = window.editor?.render_idle_remaining;
    return left >= 0 && left < 350;
  };
  // Gradio's ImageEditor keeps a second editor for its crop tool, with its own PIXI app and ticker, drawn
  // at opacity 0 until the crop tool is chosen. This app offers no crop tool (transforms=()), yet that
  // editor loaded every photo and drew as many frames as the visible one. Its ticker is the PIXI ticker
  // that is neither window.editor's nor PIXI's shared or system one; its frames wait while it is hidden.
  const cropHidden = () => !document.querySelector('.pixi-target-crop.visible');
  const cropTicker = (callback) => {
    const ticker = window.editor?.app?.ticker, Ticker = ticker?.constructor;
    if (!ticker || callback === ticker._tick) return false;
    return callback !== Ticker._shared?._tick && callback !== Ticker._system?._tick;
  };
  const delay = (caller, callback) => {  // ms a frame request waits, by who asked (0: not at all)
    if (caller.includes('/statustracker-')) return trackerShown() ? 100 : 1000;
    if (!/\\b(_tick|_requestIfNeeded) /.test(caller)) return 0;
    if (cropTicker(callback) && cropHidden()) return Infinity;
    return editorIdle() ? 250 : editorTail() ? 50 : 0;
  };
  const waiting = new Map();  // our id -> the timer, then the browser's frame id
  let nextId = -1;  // negative ids are never the browser's own
  window.requestAnimationFrame = (callback) => {
    const caller = (new Error().stack || '').split('\\n')[2] || '';  // [0] Error, [1] this function
    const ms = delay(caller, callback);
    if (!ms) return frame(callback);
    const id = nextId--;
    const wait = {frame: undefined};
    const ask = () => { wait.frame = frame((t) => { waiting.delete(id); callback(t); }); };
    // A hidden crop editor's frame: looked at again each second, drawn once the crop tool shows.
    const held = () => { wait.timer = cropHidden() ? setTimeout(held, 1000) : (ask(), undefined); };
    wait.timer = ms === Infinity ? setTimeout(held, 1000) : setTimeout(ask, ms);
    waiting.set(id, wait);
    return id;
  };
  window.cancelAnimationFrame = (id) => {
    if (id >= 0) return cancel(id);
    const wait = waiting.get(id);
    if (!wait) return;
    clearTimeout(wait.timer);
    if (wait.frame !== undefined) cancel(wait.frame);
    waiting.delete(id);
  };
})();
</script>"""

# Routes a photo dropped on, chosen in, or pasted into the editor to #photo-sink, untouched (see the
# package docstring, novita_ui/ui/__init__.py). Capture-phase listeners run before the editor's own,
# which never see the file.
PAGE_JS = """
() => {
  const MAX = %(max_bytes)d;
  const editor = () => document.querySelector('#editor');
  const setLoading = (on) => editor()?.classList.toggle('nu-loading', on);
  function route(file) {
    const sink = document.querySelector('%(sink)s');
    if (!sink || !file) return false;
    const dt = new DataTransfer();
    dt.items.add(file);
    sink.files = dt.files;
    if (file.size <= MAX) setLoading(true);  // over the limit: Gradio's own message appears instead
    sink.dispatchEvent(new Event('change', {bubbles: true}));
    return true;
  }
  const inEditor = (node) => node instanceof Element && node.closest('#editor');
  document.addEventListener('drop', (e) => {
    if (!inEditor(e.target)) return;
    const file = Array.from(e.dataTransfer?.files || [])[0];
    if (!file) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    e.target.dispatchEvent(new DragEvent('dragleave', {bubbles: true}));
    route(file);
  }, true);
  for (const type of ['input', 'change']) {
    document.addEventListener(type, (e) => {
      const input = e.target;
      if (!(input instanceof HTMLInputElement) || input.type !== 'file' || !inEditor(input)) return;
      e.stopImmediatePropagation();
      if (type === 'change' && input.files && input.files[0]) route(input.files[0]);
      if (type === 'change') input.value = '';
    }, true);
  }
  document.addEventListener('paste', (e) => {
    const t = e.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t?.isContentEditable) return;
    const file = Array.from(e.clipboardData?.files || []).find((f) => f.type.startsWith('image/'));
    if (file && route(file)) { e.preventDefault(); e.stopImmediatePropagation(); }
  }, true);
  // Remove turns off the moment it is clicked, so the second click of a double-click never reaches Gradio:
  // its own update (PREPARING_JS) lands later, and on a loaded machine the second click's job could be
  // gathered after the first job ended, looking like a new request. The server turns Remove on again.
  // Bubbling to window: Gradio's own handler has taken this click by then.
  window.addEventListener('click', (e) => {
    const button = e.target instanceof Element ? e.target.closest('#remove') : null;
    if (button instanceof HTMLButtonElement) button.disabled = true;
  });
  // The toolbar's bin takes the photo out of the editor: tell the server, so the status and Remove follow.
  document.addEventListener('click', (e) => {
    if (e.target instanceof Element && e.target.closest('#editor %(bin)s')) {
      setTimeout(() => document.querySelector('#photo-removed')?.click(), 0);
    }
  }, true);
  new MutationObserver(() => {
    if (document.querySelector('%(toast)s')) setLoading(false);
  }).observe(document.body, {childList: true, subtree: true});
}
"""

# What a removal needs from the editor, read straight from Gradio's ImageEditor (it sets ``window.editor``):
# each stroke layer as a PNG at the canvas size (what Gradio's own export makes of it) and a quarter-size
# print of the canvas, for the server's check that the canvas still shows the photo. With the editor as an
# event's input, Gradio would also encode the photo twice as full-size PNGs (background and composite) and
# upload all three first: 0.7 s and 4 MB per click for a 1024 px canvas under SwiftShader (issue 24).
# Both travel in the job itself, as data URLs (null when the editor cannot be read: the server refuses).
_READ_EDITOR = """
  const editor = window.editor, manager = editor && editor.layer_manager;
  let layers = null, canvas = null;
  try {
    const Frame = editor.app.screen.constructor;  // PIXI's Rectangle
    const frame = new Frame(0, 0, editor.width, editor.height);
    const png = (target, resolution) =>
      editor.app.renderer.extract.canvas({target, resolution, frame}).toDataURL('image/png');
    layers = manager.layers.map((layer) => png(layer.container, 1));
    canvas = png(manager.background_layer, 0.25);
  } catch (e) { layers = layers || null; canvas = null; }
  let photo = null;
  try { photo = JSON.parse(photoInfo || 'null')?.version ?? null; } catch (e) { photo = null; }
  const id = Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  // The other engine's queue is left as it is: no value, so no .change and no second event. Gradio 6.31's
  // client reads every answer from one stream per tab, which the server closes once no event of the tab is
  // pending; an empty job sent there ended while the real job's request was on its way, and the job's
  // answers went unread: Remove stayed at "Preparing the mask..." (tests/browser/test_session.py).
  const UNCHANGED = {__type__: 'update'};
"""

# Remove, in the browser: read the editor once, and snapshot the job as the user asked for it at the click
# (the settings travel with it, so changing one afterwards cannot change this job), with the number of jobs
# the page has seen end (#jobs-started: a double-click's two jobs carry the same one, so only one starts);
# the job goes to its engine's queue. See novita_ui/ui/session.py.
GATHER_JS = (
    "(engine, format, grow, prompt, enterprise, quality, wholePhoto, photoInfo, after) => {"
    + _READ_EDITOR
    + """
  const job = {id, engine, format, grow, prompt, enterprise, quality, wholePhoto, photo, after,
               layers, canvas};
  return engine === 'Offline' ? [UNCHANGED, job] : [job, UNCHANGED];
}"""
)

# "Remove all text": a job like Remove's, for the whole photo (no strokes, no engine choice), on the Novita
# queue; the same photo version and job count guard it against a stale canvas and a double-click.
TEXT_JS = (
    "(format, photoInfo, after) => {"
    + _READ_EDITOR
    + """
  const job = {id, engine: %(label)s, format, grow: 0, prompt: '', enterprise: false, quality: 'Auto',
               wholePhoto: false, photo, after, layers: [], canvas};
  return [job, UNCHANGED];
}"""
)

# The stamp of a photo or mask action, taken in the browser as it fires: the tab's count of such actions.
# The server lets the latest one win, whatever order it finishes them in (session.py).
_STAMP = "(window.__nuActions = (window.__nuActions || 0) + 1)"
STAMP_JS = f"() => [{_STAMP}]"
# The editor's stroke layers, read once in the browser (a mask file arrived or went: they must survive).
STROKES_JS = f"(value) => [((value && value.layers) || []).filter(Boolean), {_STAMP}]"
LOADED_JS = "() => { document.querySelector('#editor')?.classList.remove('nu-loading'); }"
# Instant feedback, and no second job from the same click burst: Remove stays off until the job answers.
PREPARING_JS = "() => ['Preparing the mask...', {__type__: 'update', value: 'Remove', interactive: false}]"
# A new result: bring it into view when it is below the fold (phones, short windows).
SHOW_RESULT_JS = """
() => {
  const el = document.querySelector('#result-slider');
  const box = el?.getBoundingClientRect();
  if (box && (box.top > window.innerHeight - 120 || box.bottom < 0)) el.scrollIntoView({behavior: 'smooth'});
}
"""


def page_js(max_bytes: int) -> str:
    """The page script, for the upload limit in bytes."""
    return PAGE_JS % {
        "max_bytes": max_bytes,
        "sink": PHOTO_SINK_INPUT,
        "bin": CLEAR_CANVAS_BUTTON,
        "toast": TOAST,
    }


def engine_note_js(without_key: dict[str, str], with_key: dict[str, str]) -> str:
    """The engine hint, computed in the browser as the user types: each engine label's note, picked by
    whether the API key field is filled in (the server's ``texts.engine_note`` gives the same notes)."""
    labels = json.dumps(without_key)
    keyed = json.dumps(with_key)
    return f"(engine, key) => ((key || '').trim() ? {keyed} : {labels})[engine] || ''"


def text_job_js(label: str) -> str:
    """The "Remove all text" job script, for the job label the server maps to the remove-text engine."""
    return TEXT_JS % {"label": json.dumps(label)}
