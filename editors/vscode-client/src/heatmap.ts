// The archive view's model and rendering, as pure functions over the JSON that
// `kf archive FILE:KERNEL --json OUT` writes (format: README.md, "Archive JSON").
// No imports at all: this file is unit-tested with node AND loaded as-is by the webview
// (media/archive.html loads the compiled out/src/heatmap.js after a one-line `exports` shim).

export interface AxisInfo {
  name: string;
  levels: string[];
  description?: string;
}

export interface CellInfo {
  cell: number[];
  variant: string;
  operator: string;
  speedup: number | null;
  speedupLow: number | null;
  speedupHigh: number | null;
  timeMedian: number | null;
  tunables: Record<string, number>;
  description: string;
}

export interface FinalInfo extends CellInfo {
  /** re-timed against the original and still significantly faster */
  significant: boolean;
  verdict: string;
}

export interface ArchiveModel {
  kernel: string;
  path: string;
  backend: string;
  device: string;
  status: string;
  axes: AxisInfo[];
  dims: number[];
  cells: CellInfo[];
  /** the fastest few variants, re-timed at the end of the search (best first) */
  finals: FinalInfo[];
  /** the best verified variant (re-timed, significant), else the fastest elite */
  bestId: string | null;
  bestSignificant: boolean;
  evaluations: number | null;
  failures: number | null;
  /** best speedup so far after each evaluation: [evaluation, speedup] (step series) */
  history: Array<[number, number]>;
}

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj | null {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : null;
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function str(v: unknown, dflt = ""): string {
  return typeof v === "string" ? v : dflt;
}

function pick(o: Obj, ...keys: string[]): unknown {
  for (const k of keys) {
    if (k in o) {
      return o[k];
    }
  }
  return undefined;
}

function tunablesOf(v: unknown): Record<string, number> {
  const o = obj(v);
  const out: Record<string, number> = {};
  if (o) {
    for (const [k, x] of Object.entries(o)) {
      const n = num(x);
      if (n !== null) {
        out[k] = n;
      }
    }
  }
  return out;
}

/** The model from the export (snake_case as written by `kf archive`; camelCase accepted),
 *  or a one-line reason it cannot be read. */
export function parseArchive(data: unknown): ArchiveModel | string {
  const d = obj(data);
  if (!d) {
    return "archive: expected a JSON object";
  }
  const axesRaw = Array.isArray(d.axes) ? d.axes : null;
  if (!axesRaw || axesRaw.length === 0) {
    return "archive: no `axes`";
  }
  const axes: AxisInfo[] = [];
  for (const a of axesRaw) {
    const ao = obj(a);
    if (!ao || !Array.isArray(ao.levels)) {
      return "archive: every axis needs `name` and `levels`";
    }
    axes.push({ name: str(ao.name, `axis ${axes.length}`), levels: ao.levels.map((l) => String(l)),
      description: str(ao.description) || undefined });
  }
  const dimsRaw = Array.isArray(d.dims) ? d.dims.map((x) => num(x) ?? 0) : axes.map((a) => a.levels.length);
  const dims = axes.map((a, i) => Math.max(1, dimsRaw[i] ?? a.levels.length));
  const info = (co: Obj, cell: number[]): CellInfo => ({
    cell,
    variant: str(pick(co, "variant", "id")),
    operator: str(co.operator, "?"),
    speedup: num(co.speedup),
    speedupLow: num(pick(co, "speedup_low", "speedupLow")),
    speedupHigh: num(pick(co, "speedup_high", "speedupHigh")),
    timeMedian: num(pick(co, "time_median", "timeMedian")),
    tunables: tunablesOf(co.tunables),
    description: str(co.description),
  });
  const cells: CellInfo[] = [];
  for (const c of Array.isArray(d.cells) ? d.cells : []) {
    const co = obj(c);
    if (!co || !Array.isArray(co.cell)) {
      continue;
    }
    const cell = co.cell.map((x) => Math.trunc(num(x) ?? 0));
    if (cell.length !== dims.length || cell.some((x, i) => x < 0 || x >= dims[i])) {
      continue; // a cell of another grid
    }
    cells.push(info(co, cell));
  }
  const search = obj(d.search) ?? {};
  const finals: FinalInfo[] = [];
  for (const f of Array.isArray(d.finals) ? d.finals : []) {
    const fo = obj(f);
    if (!fo || !str(pick(fo, "variant", "id"))) {
      continue;
    }
    const cell = Array.isArray(fo.cell) ? fo.cell.map((x) => Math.trunc(num(x) ?? 0)) : [];
    finals.push({ ...info(fo, cell), significant: fo.significant === true, verdict: str(fo.verdict, "correct") });
  }
  finals.sort((a, b) => (b.speedup ?? 0) - (a.speedup ?? 0));
  const sig = finals.find((f) => f.significant && f.verdict === "correct" && f.operator !== "reference");
  let bestId: string | null = sig ? sig.variant : null;
  const bestSignificant = bestId !== null;
  if (!bestId && cells.length) {
    bestId = cells.reduce((a, b) => ((b.speedup ?? 0) > (a.speedup ?? 0) ? b : a)).variant;
  }
  const evaluations = num(pick(d, "evaluations")) ?? num(d.variants);
  return {
    kernel: str(search.kernel, str(d.kernel, "?")),
    path: str(search.path, str(d.path)),
    backend: str(search.backend),
    device: str(search.device),
    status: str(d.status),
    axes,
    dims,
    cells,
    finals,
    bestId,
    bestSignificant,
    evaluations,
    failures: num(d.failures),
    history: parseHistory(d.history),
  };
}

/** `history`: [[evaluation, best], ...] or [{evaluation, best|speedup}, ...]; made a
 *  non-decreasing step series sorted by evaluation. */
export function parseHistory(raw: unknown): Array<[number, number]> {
  const pts: Array<[number, number]> = [];
  if (!Array.isArray(raw)) {
    return pts;
  }
  for (const p of raw) {
    if (Array.isArray(p) && p.length >= 2 && num(p[0]) !== null && num(p[1]) !== null) {
      pts.push([num(p[0]) as number, num(p[1]) as number]);
      continue;
    }
    const o = obj(p);
    if (o) {
      const e = num(pick(o, "evaluation", "done", "n"));
      const s = num(pick(o, "best", "speedup", "bestSpeedup"));
      if (e !== null && s !== null) {
        pts.push([e, s]);
      }
    }
  }
  pts.sort((a, b) => a[0] - b[0]);
  let best = -Infinity;
  return pts.map(([e, s]) => {
    best = Math.max(best, s);
    return [e, best] as [number, number];
  });
}

export interface View {
  rowAxis: number;
  colAxis: number;
  /** fixed levels of the remaining axes, by axis index */
  fixed: Record<number, number>;
}

export function defaultView(m: ArchiveModel): View {
  const fixed: Record<number, number> = {};
  for (let i = 2; i < m.dims.length; i++) {
    // the level of the best variant, so the best is visible first
    const best = m.cells.find((c) => c.variant === m.bestId);
    fixed[i] = best ? best.cell[i] : 0;
  }
  return { rowAxis: 0, colAxis: m.dims.length > 1 ? 1 : 0, fixed };
}

/** The other axes (the selectors) of a view. */
export function sliceAxes(m: ArchiveModel, v: View): number[] {
  return m.dims.map((_, i) => i).filter((i) => i !== v.rowAxis && i !== v.colAxis);
}

/** rows x cols of the cells in the view's slice (null: empty cell). */
export function sliceGrid(m: ArchiveModel, v: View): Array<Array<CellInfo | null>> {
  const rows = m.dims[v.rowAxis];
  const cols = v.colAxis === v.rowAxis ? 1 : m.dims[v.colAxis];
  const out: Array<Array<CellInfo | null>> = [];
  for (let r = 0; r < rows; r++) {
    out.push(new Array<CellInfo | null>(cols).fill(null));
  }
  const others = sliceAxes(m, v);
  for (const c of m.cells) {
    if (others.some((a) => c.cell[a] !== (v.fixed[a] ?? 0))) {
      continue;
    }
    const r = c.cell[v.rowAxis];
    const col = v.colAxis === v.rowAxis ? 0 : c.cell[v.colAxis];
    const cur = out[r][col];
    if (!cur || (c.speedup ?? 0) > (cur.speedup ?? 0)) {
      out[r][col] = c;
    }
  }
  return out;
}

/** Filled cells per level of one selector axis (with the other selectors as in the view). */
export function levelCounts(m: ArchiveModel, v: View, axis: number): number[] {
  const counts = new Array<number>(m.dims[axis]).fill(0);
  const others = sliceAxes(m, v).filter((a) => a !== axis);
  for (const c of m.cells) {
    if (others.every((a) => c.cell[a] === (v.fixed[a] ?? 0))) {
      counts[c.cell[axis]] += 1;
    }
  }
  return counts;
}

/** Heat colour for a speedup: red below 1x, neutral grey at 1x, green above (log scale,
 *  saturating at 1/maxRatio and maxRatio). */
export function heatColor(speedup: number | null, maxRatio = 4): string {
  if (speedup === null || !(speedup > 0)) {
    return "transparent";
  }
  const t = Math.max(-1, Math.min(1, Math.log(speedup) / Math.log(maxRatio)));
  const hue = t >= 0 ? 130 : 0;
  const sat = Math.round(15 + 55 * Math.abs(t));
  const light = Math.round(48 - 10 * Math.abs(t));
  return `hsl(${hue}, ${sat}%, ${light}%)`;
}

export function fmtX(s: number | null): string {
  return s === null ? "-" : `${s.toFixed(2)}x`;
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

export function cellTitle(m: ArchiveModel, c: CellInfo): string {
  const tun = Object.entries(c.tunables).map(([k, x]) => `${k}=${x}`).join(", ");
  const where = c.description || c.cell.map((lvl, i) => `${m.axes[i].name}: ${m.axes[i].levels[lvl] ?? lvl}`).join(", ");
  const ci = c.speedupLow !== null && c.speedupHigh !== null ? ` [${fmtX(c.speedupLow)}-${fmtX(c.speedupHigh)}]` : "";
  return `${fmtX(c.speedup)}${ci} ${c.operator}${tun ? `: ${tun}` : ""}\n${where}`;
}

/** The heatmap of one slice as an HTML table; filled cells carry data-variant. */
export function gridHtml(m: ArchiveModel, v: View, selected: string | null = null): string {
  const grid = sliceGrid(m, v);
  const rowAxis = m.axes[v.rowAxis];
  const colAxis = m.axes[v.colAxis];
  const oneCol = v.colAxis === v.rowAxis;
  let h = `<table class="kf-grid" role="grid"><thead><tr><th class="corner">${escapeHtml(rowAxis.name)}` +
    `${oneCol ? "" : ` \\ ${escapeHtml(colAxis.name)}`}</th>`;
  if (oneCol) {
    h += "<th></th>";
  } else {
    for (let c = 0; c < m.dims[v.colAxis]; c++) {
      h += `<th scope="col">${escapeHtml(colAxis.levels[c] ?? String(c))}</th>`;
    }
  }
  h += "</tr></thead><tbody>";
  grid.forEach((row, r) => {
    h += `<tr><th scope="row">${escapeHtml(rowAxis.levels[r] ?? String(r))}</th>`;
    for (const c of row) {
      if (!c) {
        h += `<td class="empty" title="empty cell">·</td>`;
        continue;
      }
      const classes = ["filled"];
      if (c.variant === m.bestId) {
        classes.push("best");
      }
      if (c.variant === selected) {
        classes.push("selected");
      }
      h += `<td class="${classes.join(" ")}" tabindex="0" data-variant="${escapeHtml(c.variant)}" ` +
        `data-cell="${c.cell.join(",")}" style="background:${heatColor(c.speedup)}" ` +
        `title="${escapeHtml(cellTitle(m, c))}">${escapeHtml(fmtX(c.speedup))}` +
        `${c.variant === m.bestId ? " ★" : ""}</td>`;
    }
    h += "</tr>";
  });
  return h + "</tbody></table>";
}

function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) {
    return [lo];
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) {
    out.push(Number(t.toFixed(6)));
  }
  return out;
}

/** The best speedup over evaluations as an inline SVG step plot (1x reference dashed). */
export function historySvg(points: ReadonlyArray<[number, number]>, width = 420, height = 180): string {
  const pad = { l: 44, r: 12, t: 12, b: 30 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const head = `<svg xmlns="http://www.w3.org/2000/svg" class="kf-history" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" role="img" aria-label="best speedup over evaluations">`;
  if (points.length === 0) {
    return `${head}<text x="${width / 2}" y="${height / 2}" text-anchor="middle" class="note">` +
      `no evaluation history in this export</text></svg>`;
  }
  const xmax = Math.max(1, ...points.map((p) => p[0]));
  const ys = points.map((p) => p[1]);
  const ylo = Math.min(1, ...ys) * 0.95;
  const yhi = Math.max(1, ...ys) * 1.05;
  const X = (e: number): number => pad.l + (e / xmax) * w;
  const Y = (s: number): number => pad.t + h - ((s - ylo) / (yhi - ylo)) * h;
  const f = (n: number): string => n.toFixed(1);
  let d = `M${f(X(points[0][0]))},${f(Y(points[0][1]))}`;
  for (let i = 1; i < points.length; i++) {
    d += ` H${f(X(points[i][0]))} V${f(Y(points[i][1]))}`;
  }
  d += ` H${f(X(xmax))}`;
  let s = head;
  s += `<g class="axis">`;
  for (const t of niceTicks(ylo, yhi, 4)) {
    s += `<line x1="${pad.l}" x2="${pad.l + w}" y1="${f(Y(t))}" y2="${f(Y(t))}" class="grid"/>` +
      `<text x="${pad.l - 4}" y="${f(Y(t) + 4)}" text-anchor="end">${t}x</text>`;
  }
  for (const t of niceTicks(0, xmax, 5)) {
    s += `<text x="${f(X(t))}" y="${pad.t + h + 14}" text-anchor="middle">${t}</text>`;
  }
  s += `<text x="${pad.l + w / 2}" y="${height - 2}" text-anchor="middle">evaluations</text></g>`;
  s += `<line x1="${pad.l}" x2="${pad.l + w}" y1="${f(Y(1))}" y2="${f(Y(1))}" class="ref"/>`;
  s += `<path d="${d}" class="best"/>`;
  for (const [e, v] of points) {
    s += `<circle cx="${f(X(e))}" cy="${f(Y(v))}" r="2.5" class="pt"><title>${e}: ${fmtX(v)}</title></circle>`;
  }
  return s + "</svg>";
}

/** The selected cell's details (HTML). */
export function detailsHtml(m: ArchiveModel, variant: string | null): string {
  const c = m.cells.find((x) => x.variant === variant) ?? m.finals.find((x) => x.variant === variant);
  if (!c) {
    return `<p class="note">Click a cell (or a re-timed variant) to see it.</p>`;
  }
  const rows: Array<[string, string]> = [
    ["speedup", `${fmtX(c.speedup)}${c.speedupLow !== null && c.speedupHigh !== null ? ` (95% CI ${fmtX(c.speedupLow)}-${fmtX(c.speedupHigh)})` : ""}`],
    ["operator", c.operator],
    ["tunables", Object.entries(c.tunables).map(([k, x]) => `${k}=${x}`).join(", ") || "-"],
    ["cell", c.cell.map((lvl, i) => `${m.axes[i]?.name ?? i}: ${m.axes[i]?.levels[lvl] ?? lvl}`).join("; ") || "-"],
    ["variant", c.variant.slice(0, 12)],
  ];
  if (c.timeMedian !== null) {
    rows.splice(1, 0, ["time", `${(c.timeMedian * 1e6).toFixed(1)} µs`]);
  }
  return `<table class="kf-details">${rows.map(([k, x]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(x)}</td></tr>`).join("")}</table>`;
}

/** The re-timed variants as a list of buttons (data-variant), best first. */
export function finalsHtml(m: ArchiveModel, selected: string | null = null): string {
  if (m.finals.length === 0) {
    return `<p class="note">No re-timed variants (the search did not finish).</p>`;
  }
  const items = m.finals.map((f) => {
    const tun = Object.entries(f.tunables).map(([k, x]) => `${k}=${x}`).join(", ");
    const verdict = f.verdict !== "correct" ? f.verdict : f.significant ? "faster" : "not significant";
    const ci = f.speedupLow !== null && f.speedupHigh !== null ? ` [${fmtX(f.speedupLow)}-${fmtX(f.speedupHigh)}]` : "";
    const cls = ["final", f.variant === m.bestId ? "best" : "", f.variant === selected ? "selected" : ""].filter(Boolean).join(" ");
    return `<li><button class="${cls}" data-variant="${escapeHtml(f.variant)}" data-cell="${f.cell.join(",")}">` +
      `${escapeHtml(fmtX(f.speedup))}${escapeHtml(ci)} ${escapeHtml(f.operator)}${tun ? `: ${escapeHtml(tun)}` : ""}` +
      ` <span class="verdict">(${escapeHtml(verdict)})</span></button></li>`;
  });
  return `<ul class="kf-finals">${items.join("")}</ul>`;
}

/** Messages the page posts to the extension. */
export type WebviewMessage =
  | { type: "ready" }
  | { type: "select"; variant: string; cell: number[] }
  | { type: "apply"; variant: string }
  | { type: "diff"; variant: string }
  | { type: "refresh" };

export function isWebviewMessage(m: unknown): m is WebviewMessage {
  const o = obj(m);
  if (!o || typeof o.type !== "string") {
    return false;
  }
  switch (o.type) {
    case "ready":
    case "refresh":
      return true;
    case "select":
      return typeof o.variant === "string" && Array.isArray(o.cell);
    case "apply":
    case "diff":
      return typeof o.variant === "string" && o.variant.length > 0;
    default:
      return false;
  }
}
