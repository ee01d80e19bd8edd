"""The select tool in the page: a box dragged over the photo (mouse, pen or finger) is sent to the server,
which answers with the object's outline as pink strokes (``events/selecting.py``).

The #select-tool button turns box mode on; a layer over the editor's canvas then takes the pointer instead of
the brush, so a drag draws a dashed box, not a stroke. Choosing a tool in the editor's toolbar, the button
again, or Escape turns box mode off. The box is mapped to working-canvas pixels through the editor's PixiJS
stage (Gradio sets ``globalThis.__PIXI_APP__`` in the light theme): exact at any zoom and pan. Without it
(the dark theme) the photo is taken as centred at the zoom the editor shows, which holds until the user pans.

Undo: ``window.nuUndoSelection`` (called by ``editor_page``'s Ctrl+Z and toolbar Undo once no stroke is left
to undo) takes the newest selection back through #select-undo.
"""

from __future__ import annotations

SELECT_CSS = """
#nu-select-layer { position: absolute; inset: 0; z-index: 30; cursor: crosshair; touch-action: none;
  display: none; user-select: none; -webkit-user-select: none; }
#nu-select-box { position: absolute; display: none; pointer-events: none; border: 2px dashed #ff00ff;
  background: rgba(255, 0, 255, .12); box-shadow: 0 0 0 1px rgba(255, 255, 255, .8); }
#nu-select-box.nu-busy { animation: nu-select-pulse .8s ease-in-out infinite alternate; }
@keyframes nu-select-pulse { from { opacity: 1; } to { opacity: .35; } }
#select-tool.nu-on { border-color: #ff00ff !important; background: rgba(255, 0, 255, .14) !important; }
"""

# Runs once when the page loads (after editor_page's script).
SELECT_JS = """
() => {
  const q = (s) => document.querySelector(s);
  const layer = document.createElement('div'), frame = document.createElement('div');
  layer.id = 'nu-select-layer'; frame.id = 'nu-select-box';
  let on = false, start = null, selections = 0, photo = '';
  const info = () => q('#photo-info textarea')?.value || '';
  const hasPhoto = () => !!info() && !q('#editor .empty.wrap');
  const sync = () => { if (info() !== photo) { photo = info(); selections = 0; } };
  function setMode(flag) {
    on = !!flag && hasPhoto();
    const button = q('#select-tool');
    button?.classList.toggle('nu-on', on);
    button?.setAttribute('aria-pressed', String(on));
    const target = q('#editor .pixi-target');
    if (on && target && layer.parentElement !== target) target.appendChild(layer);
    layer.style.display = on ? 'block' : 'none';
    if (!on) frame.style.display = 'none';
  }
  window.nuSelectMode = setMode;
  document.addEventListener('click', (e) => {
    const t = e.target instanceof Element ? e.target : null;
    if (t?.closest('#select-tool')) setMode(!on);
    else if (t?.closest('#editor .toolbar-wrap button')) setMode(false);
  }, true);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && on) setMode(false); }, true);

  // Screen point -> working-canvas pixel.
  function toImage(x, y) {
    const canvas = q('#editor .pixi-target canvas');
    const [pw, ph] = JSON.parse(info()).preview;
    const r = canvas.getBoundingClientRect();
    const app = globalThis.__PIXI_APP__;
    const image = app?.stage?.children?.find((c) => c.scale.x > 0 &&
      Math.abs(c.width / c.scale.x - pw) < 2 && Math.abs(c.height / c.scale.y - ph) < 2);
    if (image && app.screen.width) {
      const k = app.screen.width / r.width, at = image.getGlobalPosition();
      return [((x - r.left) * k - at.x) / image.scale.x, ((y - r.top) * k - at.y) / image.scale.y];
    }
    const zoom = parseFloat(q('#editor .zoom-number span')?.textContent || '100') / 100;
    const left = r.left + r.width / 2 - pw * zoom / 2, top = r.top + r.height / 2 - ph * zoom / 2;
    return [(x - left) / zoom, (y - top) / zoom];
  }
  function draw(a, b) {
    const r = layer.getBoundingClientRect();
    frame.classList.remove('nu-busy');
    Object.assign(frame.style, {
      display: 'block', left: `${Math.min(a.x, b.x) - r.left}px`, top: `${Math.min(a.y, b.y) - r.top}px`,
      width: `${Math.abs(b.x - a.x)}px`, height: `${Math.abs(b.y - a.y)}px`});
    if (frame.parentElement !== layer) layer.appendChild(frame);
  }
  layer.addEventListener('pointerdown', (e) => {
    e.preventDefault(); e.stopPropagation();
    try { layer.setPointerCapture(e.pointerId); } catch (err) { /* a synthetic pointer */ }
    start = {x: e.clientX, y: e.clientY};
    draw(start, start);
  });
  layer.addEventListener('pointermove', (e) => {
    if (start) { e.preventDefault(); draw(start, {x: e.clientX, y: e.clientY}); }
  });
  const finish = (e) => {
    if (!start) return;
    const a = start, b = {x: e.clientX, y: e.clientY};
    start = null;
    if (e.type === 'pointercancel' || Math.abs(b.x - a.x) < 4 || Math.abs(b.y - a.y) < 4) {
      frame.style.display = 'none';  // a tap, not a box
      return;
    }
    const [pw, ph] = JSON.parse(info()).preview;
    const [x0, y0] = toImage(Math.min(a.x, b.x), Math.min(a.y, b.y));
    const [x1, y1] = toImage(Math.max(a.x, b.x), Math.max(a.y, b.y));
    const box = [Math.max(0, x0), Math.max(0, y0), Math.min(pw, x1), Math.min(ph, y1)].map(Math.round);
    sync();
    window.__nuSelection = {box, photo: JSON.parse(info()).version};
    frame.classList.add('nu-busy');
    q('#select-run')?.click();
  };
  layer.addEventListener('pointerup', finish);
  layer.addEventListener('pointercancel', finish);

  window.nuSelected = () => {
    sync(); selections += 1; frame.style.display = 'none'; window.nuResetStrokes?.();
  };
  window.nuUndoSelection = () => {
    sync();
    if (selections <= 0) return false;
    selections -= 1;
    q('#select-undo')?.click();
    return true;
  };
  // A refused selection (a toast says why) must not leave the box pulsing.
  new MutationObserver(() => {
    if (q('[data-testid="toast-body"]') && frame.classList.contains('nu-busy')) frame.style.display = 'none';
  }).observe(document.body, {childList: true, subtree: true});
}
"""

# The select event's inputs, read in the browser: the stroke layers painted so far and the box.
SELECTION_JS = "(value) => [((value && value.layers) || []).filter(Boolean), window.__nuSelection || null]"
SELECTED_JS = "() => { window.nuSelected?.(); }"
