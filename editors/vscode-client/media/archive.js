// The archive page: renders the heatmap (window.kfHeatmap = out/src/heatmap.js), the
// selectors, the selected variant and the history plot; talks to the extension with
// postMessage (messages: heatmap.ts WebviewMessage). Plain browser JS, no external code.
(function () {
  "use strict";
  const H = window.kfHeatmap;
  const vscode = typeof acquireVsCodeApi === "function" ? acquireVsCodeApi() : { postMessage() {}, getState() {}, setState() {} };
  const $ = (id) => document.getElementById(id);
  let model = null;
  let view = null;
  let selected = null;

  function post(msg) {
    vscode.postMessage(msg);
  }

  function fail(text) {
    const e = $("kf-error");
    e.textContent = text;
    e.hidden = false;
  }

  function load(data) {
    const m = H.parseArchive(data);
    if (typeof m === "string") {
      model = null;
      fail(m);
      return;
    }
    $("kf-error").hidden = true;
    model = m;
    const saved = vscode.getState && vscode.getState();
    view = saved && saved.view && saved.kernel === m.kernel && saved.view.fixed ? saved.view : H.defaultView(m);
    if (view.rowAxis >= m.dims.length || view.colAxis >= m.dims.length) {
      view = H.defaultView(m);
    }
    const known = (v) => m.cells.some((c) => c.variant === v) || m.finals.some((c) => c.variant === v);
    selected = saved && saved.kernel === m.kernel && known(saved.selected) ? saved.selected : null;
    render();
  }

  function save() {
    if (vscode.setState && model) {
      vscode.setState({ kernel: model.kernel, view, selected });
    }
  }

  function header() {
    const m = model;
    const where = [m.backend, m.device].filter(Boolean).join(" ");
    const filled = m.cells.length;
    const total = m.dims.reduce((a, b) => a * b, 1);
    const best = m.finals.find((c) => c.variant === m.bestId) || m.cells.find((c) => c.variant === m.bestId);
    const bestText = best ? `best ${H.fmtX(best.speedup)}${m.bestSignificant ? " (verified, significant)" : " (fastest elite; not significant)"}` : "no elite yet";
    $("kf-header").innerHTML = `<h2>${H.escapeHtml(m.kernel)}</h2><div class="sub">${H.escapeHtml(m.path)}` +
      `${where ? " · " + H.escapeHtml(where) : ""} · ${filled}/${total} cells filled` +
      `${m.evaluations !== null ? " · " + m.evaluations + " variants" : ""}` +
      `${m.failures ? " (" + m.failures + " failed)" : ""} · ${H.escapeHtml(bestText)}` +
      `${m.status ? " · " + H.escapeHtml(m.status) : ""}</div>`;
  }

  function axisSelect(id, label, value) {
    const opts = model.axes.map((a, i) => `<option value="${i}"${i === value ? " selected" : ""}>${H.escapeHtml(a.name)}</option>`).join("");
    return `<label>${label}<select id="${id}">${opts}</select></label>`;
  }

  function controls() {
    let h = axisSelect("kf-rows", "rows", view.rowAxis) + axisSelect("kf-cols", "columns", view.colAxis);
    for (const a of H.sliceAxes(model, view)) {
      const counts = H.levelCounts(model, view, a);
      const fixed = view.fixed[a] || 0;
      h += `<div class="levels" data-axis="${a}"><label>${H.escapeHtml(model.axes[a].name)}:</label>` +
        model.axes[a].levels.map((l, i) => `<button data-level="${i}" class="${i === fixed ? "on" : ""}" ` +
          `title="${counts[i]} filled cell(s)">${H.escapeHtml(l)} (${counts[i]})</button>`).join("") + "</div>";
    }
    $("kf-controls").innerHTML = h;
    $("kf-rows").addEventListener("change", (e) => setAxes(Number(e.target.value), view.colAxis));
    $("kf-cols").addEventListener("change", (e) => setAxes(view.rowAxis, Number(e.target.value)));
    for (const div of document.querySelectorAll(".levels")) {
      const a = Number(div.getAttribute("data-axis"));
      for (const b of div.querySelectorAll("button")) {
        b.addEventListener("click", () => {
          view.fixed[a] = Number(b.getAttribute("data-level"));
          render();
        });
      }
    }
  }

  function setAxes(r, c) {
    if (r === c) {  // swap instead of showing one axis twice
      c = view.rowAxis === r ? view.colAxis : view.rowAxis;
    }
    view = { rowAxis: r, colAxis: c, fixed: Object.assign({}, view.fixed) };
    for (const a of H.sliceAxes(model, view)) {
      if (view.fixed[a] === undefined) view.fixed[a] = 0;
    }
    render();
  }

  function grid() {
    $("kf-grid").innerHTML = H.gridHtml(model, view, selected) +
      `<div class="legend">speedup vs the original:<span style="background:${H.heatColor(0.5)}"></span>0.5x` +
      `<span style="background:${H.heatColor(1)}"></span>1x<span style="background:${H.heatColor(2)}"></span>2x` +
      `<span style="background:${H.heatColor(4)}"></span>4x · ★ best</div>`;
    $("kf-finals").innerHTML = H.finalsHtml(model, selected);
    for (const td of document.querySelectorAll("td.filled, button.final")) {
      const choose = () => select(td.getAttribute("data-variant"), td.getAttribute("data-cell"));
      td.addEventListener("click", choose);
      td.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          choose();
        }
      });
    }
  }

  function select(variant, cellText) {
    selected = variant;
    post({ type: "select", variant, cell: String(cellText || "").split(",").filter(Boolean).map(Number) });
    render();
  }

  function details() {
    $("kf-details").innerHTML = H.detailsHtml(model, selected);
    $("kf-apply").disabled = !selected;
    $("kf-diff").disabled = !selected;
  }

  function render() {
    if (!model) return;
    header();
    controls();
    grid();
    details();
    $("kf-history").innerHTML = H.historySvg(model.history);
    save();
  }

  $("kf-apply").addEventListener("click", () => selected && post({ type: "apply", variant: selected }));
  $("kf-diff").addEventListener("click", () => selected && post({ type: "diff", variant: selected }));

  window.addEventListener("message", (e) => {
    const msg = e.data || {};
    if (msg.type === "data") load(msg.data);
    else if (msg.type === "history" && model) {
      model.history = H.parseHistory(msg.history);
      render();
    }
  });

  try {
    load(JSON.parse($("kf-data").textContent || "null"));
  } catch (err) {
    fail("archive: " + err);
  }
  post({ type: "ready" });
})();
