"""The editor's page script and styles: shortcuts, the brush-size control, hold-to-compare, the phone layout.

Plain strings, like ``page.py``; ``wiring.launch_kwargs`` runs this script after the page's own. It drives
Gradio's ``ImageEditor`` through what a user could click (the toolbar buttons by ``aria-label``, the range
input the Brush Size button opens), so it needs no access to the editor's internals;
``test_the_gradio_pieces_the_page_script_drives`` (``tests/browser/test_editor.py``) fails when a Gradio
upgrade renames those pieces.
"""

from __future__ import annotations

EDITOR_CSS = """
/* The tool palette sits in a strip left of the canvas, so it never covers the photo. */
#editor .pixi-target, #editor .pixi-target-crop {
  left: 46px !important; width: calc(100% - 46px) !important;
}
#editor .toolbar-wrap { left: 8px !important; }
/* The quality choice only matters to the Offline engine. */
body:has(#engine input[value="Offline"]:not(:checked)) #offline-quality { display: none; }
#shortcuts { font-size: .8rem; opacity: .8; }
/* Before any photo the editor's zoom label reads a meaningless "62 %" over the blank canvas. */
#editor:has(.empty.wrap) .zoom-number { visibility: hidden; }
#shortcuts p { margin: 0; }
#compare { touch-action: none; user-select: none; -webkit-user-select: none; }
/* Transparency shows as a checkerboard, not as white, in the result views. Only PNG previews can have it
   (pixels/preview.of_result); an opaque photo's JPEG preview keeps the plain letterbox around it. */
#result-slider img[data-testid="imageslider-image"][src$=".png"], #history .thumbnail-item img[src$=".png"] {
  background: repeating-conic-gradient(#d9d9d9 0% 25%, #ffffff 0% 50%) 50% / 16px 16px !important;
}
/* Hold-to-compare: the result image hides, the original under it shows whole. */
#result-slider.nu-comparing img[data-testid="imageslider-image"].fixed { visibility: hidden; }
#result-slider.nu-comparing [data-testid="slider"] { visibility: hidden; }
@media (max-width: 640px) {
  /* Phones: the palette becomes a row under the photo and the photo gets the full width. */
  #editor .pixi-target, #editor .pixi-target-crop {
    left: 0 !important; width: 100% !important; height: calc(100% - 44px) !important;
  }
  #editor .toolbar-wrap {
    top: auto !important; bottom: 4px !important; left: 50% !important; transform: translateX(-50%);
    flex-direction: row !important; width: auto !important; height: 36px; padding: 0 6px;
  }
  #editor .toolbar-wrap .half-container { flex-direction: row !important; }
  /* 50vh: Remove stays on the first screen under the select button and the brush size. */
  #editor { height: 50vh !important; max-height: 560px; }
  /* Remove comes right under the photo, before the engine settings. */
  #remove { order: -2; }
  #status { order: -1; }
  #shortcuts { display: none; }
  /* The slider's handle starts at the result's left edge: keep that edge clear of the screen's, where a
     finger's swipe means Back (Android, iOS) instead of dragging the handle. */
  #result-slider .slider-wrap { padding: 0 24px; }
}
"""

# Rules for what lies outside Gradio's app column, sent in the page's <head> as they are: Gradio rewrites the
# ``css`` it is given so that every rule inside an @media block only matches within its ``.contain`` column
# (gradio's prefix_css keeps no unscoped copy of those), so a phone rule for the page's own margins (Gradio's
# ``.app`` padding, 32 px a side: the photo got 317 px of a 390 px screen) never applied.
EDITOR_HEAD = """<style>
@media (max-width: 640px) {
  /* Phones: the editor, and so the photo, takes nearly the screen's width. */
  .gradio-container .main.app { padding-left: 6px; padding-right: 6px; }
}
</style>"""

# Without a GPU the browser draws WebGL on the CPU (SwiftShader, llvmpipe: virtual machines, remote desktops,
# blocklisted drivers), and each frame of Gradio's editor cost ~0.18 s of CPU at 672 x 558 px, so a stroke
# lagged. Two things in it are costly there and not worth it: PIXI's batch shader picks each pixel's texture
# among every texture unit the GPU reports (32 in SwiftShader), which a CPU runs as that many samples per
# pixel; and a 10 %-opaque drop shadow round the canvas is a blur over the whole frame. With at most 8 units
# (WebGL's guaranteed minimum, so nothing can rely on more) and no shadow, a frame costs ~0.06 s
# (benchmarks/bench_editor_frames.py). A real GPU keeps Gradio's editor as it is. The unit count must be
# set before PIXI starts, so this runs in the page's <head>, ahead of Gradio's own scripts.
# window.NU_GRADIO_WEBGL = true (set before the page loads) keeps Gradio's drawing, for the benchmark.
SOFTWARE_WEBGL_HEAD = """<script>
(() => {
  if (window.NU_GRADIO_WEBGL) return;
  const MAX_TEXTURE_IMAGE_UNITS = 0x8872, UNITS = 8;
  const software = (gl) => {
    try {
      const info = gl.getExtension('WEBGL_debug_renderer_info');
      const name = gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER);
      return /swiftshader|llvmpipe|softpipe|software/i.test(String(name));
    } catch (e) {
      return false;
    }
  };
  for (const Context of [window.WebGLRenderingContext, window.WebGL2RenderingContext]) {
    if (!Context) continue;
    const get = Context.prototype.getParameter;
    Context.prototype.getParameter = function (name) {
      const value = get.call(this, name);
      return name === MAX_TEXTURE_IMAGE_UNITS && value > UNITS && software(this) ? UNITS : value;
    };
  }
  // Gradio's editor sets window.editor when it mounts; its outline (and shadow) may come a few frames later.
  const unshadow = (editor, frames) => {
    const gl = editor?.app?.renderer?.gl;
    if (editor?.outline_graphics && gl) {
      const cpu = software(gl);
      if (cpu) editor.outline_graphics.filters = [];
      window.nuEditorDrawing = cpu ? 'software' : 'gpu';  // what the tests wait for
    } else if (editor && frames > 0) {
      requestAnimationFrame(() => unshadow(editor, frames - 1));
    }
  };
  let current;
  Object.defineProperty(window, 'editor', {
    configurable: true,
    get: () => current,
    set: (editor) => { current = editor; unshadow(editor, 600); },
  });
})();
</script>"""

# Runs once when the page loads (chained after page.PAGE_JS). Exposes window.nuBrushSize(n) and
# window.nuBrushSizeSettled() for tests.
EDITOR_JS = """
() => {
  const MIN = %(min)d, MAX = %(max)d;
  const q = (s) => document.querySelector(s);
  const tool = (label) => q(`#editor button[aria-label="${label}"]`);
  const on = (label) => /highlight/.test(tool(label)?.className || '');
  const press = (label) => {
    const b = tool(label);
    if (b && !b.disabled) b.click();
  };
  const inside = (t, sel) => t instanceof Element && !!t.closest(sel);
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  const typing = (t) => t instanceof Element && !!t.closest(
    'textarea, select, [contenteditable=""], [contenteditable="true"], ' +
    'input:not([type="range"]):not([type="radio"]):not([type="checkbox"]):not([type="button"]):not([type="file"])');
  const hasPhoto = () => !!(q('#photo-info textarea')?.value) && !q('#editor .empty.wrap');
  const setValue = (input, value) => {
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(input, String(value));
    input.dispatchEvent(new Event('input', {bubbles: true}));
  };

  // Strokes since the photo loaded: Ctrl+Z never undoes past them (the editor's Undo would blank the photo).
  let strokes = 0, undone = 0, photo = '';
  const sync = () => {
    const now = q('#photo-info textarea')?.value || '';
    if (now !== photo) { photo = now; strokes = 0; undone = 0; }
  };
  document.addEventListener('pointerup', (e) => {
    sync();
    if (inside(e.target, '#editor .pixi-target') && (on('Brush') || on('Erase')) && spaceFrom === null) {
      strokes += 1; undone = 0;
    }
  }, true);
  document.addEventListener('click', (e) => {
    const b = e.target instanceof Element && e.target.closest('#editor button, #clear-mask');
    if (!b) return;
    sync();
    const label = b.getAttribute('aria-label');
    // No stroke left to undo: the newest selection (select_page.py) is what Undo takes back.
    if (label === 'Undo' && strokes === 0 && window.nuUndoSelection?.()) {
      e.preventDefault(); e.stopImmediatePropagation(); return;
    }
    if (label === 'Undo' && strokes > 0) { strokes -= 1; undone += 1; }
    else if (label === 'Redo' && undone > 0) { undone -= 1; strokes += 1; }
    else if (b.id === 'clear-mask' || label === 'Clear canvas') { strokes = 0; undone = 0; }
  }, true);
  // The server set the editor's value (a selection): its history starts again from there.
  window.nuResetStrokes = () => { strokes = 0; undone = 0; };

  // Brush size: the visible slider (#brush-size), [ and ], and the editor's own size popup kept in step.
  let size = %(size)d;
  const showSize = (n) => {
    const range = q('#brush-size input[type="range"]');
    if (range && Number(range.value) !== n) setValue(range, n);
    const box = q('#brush-size input[type="number"]');
    if (box && Number(box.value) !== n) setValue(box, n);
  };
  // One sync with the editor at a time, always to the latest size: two quick presses of ] used to race
  // (each opened the popup; the first, resuming last, set its own older size: 29 shown, 23 painted).
  let sizing = Promise.resolve(), queued = false;
  async function syncEditorSize() {
    if (!hasPhoto()) return;
    const erasing = on('Erase');
    if (!erasing && !on('Brush')) press('Brush');
    await frame();
    let range = q('#editor .toolbar-wrap input[type="range"]');
    const opened = !range;
    if (opened) press(erasing ? 'Eraser Size' : 'Brush Size');
    for (let i = 0; i < 30 && !range; i++) {
      await frame();
      range = q('#editor .toolbar-wrap input[type="range"]');
    }
    if (!range) return;
    if (Number(range.value) !== size) setValue(range, size);
    if (opened) { await frame(); document.body.dispatchEvent(new MouseEvent('mousedown', {bubbles: true})); }
  }
  function applySize(n) {
    n = Math.max(MIN, Math.min(MAX, Math.round(Number(n) || size)));
    size = n;
    showSize(n);
    if (!queued) {  // a sync not started yet will apply this size too
      queued = true;
      const run = () => { queued = false; return syncEditorSize(); };
      sizing = sizing.then(run, run);
    }
    return sizing.then(() => n, () => n);
  }
  window.nuBrushSize = applySize;
  // Resolves once the editor's own size is the one shown (tests wait on it instead of a moment).
  window.nuBrushSizeSettled = () => sizing.then(() => size, () => size);
  for (const type of ['input', 'change']) {
    document.addEventListener(type, (e) => {
      const t = e.target;
      const mine = inside(t, '#brush-size') && t instanceof HTMLInputElement;
      if (mine && Number(t.value) !== size) applySize(t.value);
    });
  }
  // Hold to compare: the button, or the C key, shows the original instead of the result while held.
  const comparing = (flag) => q('#result-slider')?.classList.toggle('nu-comparing', flag);
  document.addEventListener('pointerdown', (e) => {
    if (inside(e.target, '#compare')) { e.preventDefault(); comparing(true); }
  }, true);
  for (const type of ['pointerup', 'pointercancel', 'blur']) {
    window.addEventListener(type, () => comparing(false), true);
  }
  document.addEventListener('contextmenu', (e) => {
    if (inside(e.target, '#compare')) e.preventDefault();  // a long press on a phone opens no menu
  }, true);

  // The mouse wheel (and a trackpad pinch) zooms, as in other editors: Gradio zooms on Alt+wheel only.
  window.addEventListener('wheel', (e) => {
    if (e.altKey || !inside(e.target, '#editor .pixi-target')) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    e.target.dispatchEvent(new WheelEvent('wheel', {
      bubbles: true, cancelable: true, composed: true, clientX: e.clientX, clientY: e.clientY,
      screenX: e.screenX, screenY: e.screenY, deltaY: e.deltaY, deltaMode: e.deltaMode, altKey: true,
    }));
  }, {capture: true, passive: false});

  // Phones: Gradio fits the photo with a wide margin (a third of the screen); zoom it to the full width once
  // per photo, through the same Alt+wheel zoom.
  let fitted = '', settling = 0;
  const fitWidth = () => {
    const info = q('#photo-info textarea')?.value || '';
    const canvas = q('#editor .pixi-target canvas');
    const label = q('#editor .zoom-number span')?.textContent || '';
    if (window.innerWidth > 640 || !info || info === fitted || !canvas || !hasPhoto() || !label) return;
    const box = canvas.getBoundingClientRect();
    const [w, h] = JSON.parse(info).preview, zoom = parseFloat(label) / 100;
    const factor = Math.min((box.width - 8) / (w * zoom), (box.height - 8) / (h * zoom));
    if (!(factor > 1.05)) return;
    fitted = info;
    canvas.dispatchEvent(new WheelEvent('wheel', {
      bubbles: true, cancelable: true, clientX: box.x + box.width / 2, clientY: box.y + box.height / 2,
      deltaY: -(factor - 1) / 0.0005, altKey: true,
    }));
  };
  // Once the zoom label has rested for half a second: the editor has drawn the new photo by then.
  new MutationObserver(() => { clearTimeout(settling); settling = setTimeout(fitWidth, 500); })
    .observe(document.body, {subtree: true, childList: true, characterData: true});

  // Keys. None fires while the user types in a text field. Hold Space and drag to pan, whatever else has
  // focus (the radio or button just clicked): Space is the pan's while held, and a focused control gets its
  // own Space only when it comes up with no drag in between.
  const PRESSABLE = 'button, summary, [role="button"], input[type="radio"], input[type="checkbox"]';
  let panningFrom = null, spaceFrom = null, dragged = false;
  document.addEventListener('keydown', (e) => {
    if (typing(e.target) || e.isComposing) return;
    const mod = e.ctrlKey || e.metaKey, key = e.key.toLowerCase();
    let handled = true;
    sync();
    if (mod && key === 'z' && !e.shiftKey) {
      if (strokes > 0) press('Undo'); else window.nuUndoSelection?.();
    }
    else if (mod && (key === 'z' || (key === 'y' && e.ctrlKey))) { if (undone > 0) press('Redo'); }
    else if (mod || e.altKey) handled = false;
    else if (e.key === ']') applySize(Math.max(size + 1, size * 1.25));
    else if (e.key === '[') applySize(Math.min(size - 1, size / 1.25));
    else if (e.key === 'Enter' && !inside(e.target, 'button, a, [role="button"]')) {
      if (!e.repeat) q('#remove')?.click();
    } else if (e.key === ' ' && hasPhoto()) {
      e.stopImmediatePropagation();  // the Space is the pan's, not the focused control's (see keyup)
      if (!e.repeat && spaceFrom === null) {
        spaceFrom = e.target; dragged = false;
        panningFrom = on('Erase') ? 'Erase' : 'Brush';
        press('Pan');
      }
    } else if (key === 'c' && q('#result-slider img')) comparing(true);
    else handled = false;
    if (handled) e.preventDefault();
  }, true);
  document.addEventListener('keyup', (e) => {
    if (e.key === ' ' && spaceFrom !== null) {
      e.preventDefault();
      e.stopImmediatePropagation();
      if (on('Pan')) press(panningFrom);
      const target = spaceFrom;
      spaceFrom = null; panningFrom = null;
      // Space tapped without a drag: what it does on its own (a keyboard user's Space presses a button).
      if (!dragged && target instanceof HTMLElement && target.matches(PRESSABLE)) target.click();
    }
    if (e.key.toLowerCase() === 'c') comparing(false);
  }, true);
  window.addEventListener('blur', () => {  // Space let go in another window: no keyup comes here
    if (spaceFrom !== null && on('Pan')) press(panningFrom);
    spaceFrom = null; panningFrom = null;
  });
  // While Space is held, a press on the photo is a pan, never a stroke: when the photo fits the editor,
  // Gradio's Pan is off (nothing to pan) and the press would paint.
  document.addEventListener('pointerdown', (e) => {
    if (spaceFrom === null || !inside(e.target, '#editor .pixi-target')) return;
    dragged = true;
    if (!on('Pan')) { e.preventDefault(); e.stopImmediatePropagation(); }
  }, true);
}
"""


def editor_js(*, size: int, minimum: int, maximum: int) -> str:
    """The editor script with the brush-size limits filled in."""
    return EDITOR_JS % {"size": size, "min": minimum, "max": maximum}
