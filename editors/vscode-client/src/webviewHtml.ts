// The archive webview's HTML. No `vscode` import: the headless-Chromium test builds the
// very same page with file: URLs.

export interface PageAssets {
  /** the webview's CSP source (webview.cspSource); "file:" in the browser test */
  cspSource: string;
  nonce: string;
  styleUri: string;
  shimUri: string;
  heatmapUri: string;
  scriptUri: string;
}

/** JSON safe to embed in a <script type="application/json"> element. */
export function embedJson(data: unknown): string {
  return JSON.stringify(data ?? null).replace(/</g, "\\u003c").replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

export function makeNonce(random: () => number = Math.random): string {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  for (let i = 0; i < 32; i++) {
    s += chars.charAt(Math.floor(random() * chars.length));
  }
  return s;
}

function attr(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

export function archivePage(a: PageAssets, data: unknown, title = "kf archive"): string {
  const csp = [
    "default-src 'none'",
    `img-src ${a.cspSource} data:`,
    `style-src ${a.cspSource} 'unsafe-inline'`,
    `script-src 'nonce-${a.nonce}'`,
    `font-src ${a.cspSource}`,
  ].join("; ");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attr(a.styleUri)}">
<title>${attr(title)}</title>
</head>
<body>
<header id="kf-header"></header>
<main>
  <section class="panel"><div id="kf-controls"></div><div id="kf-grid"></div>
    <h3>Re-timed variants (best first)</h3><div id="kf-finals"></div></section>
  <section class="panel side">
    <h3>Selected variant</h3>
    <div id="kf-details"></div>
    <div class="buttons">
      <button id="kf-diff" disabled>Show diff</button>
      <button id="kf-apply" disabled>Apply variant</button>
    </div>
    <h3>Best speedup over evaluations</h3>
    <div id="kf-history"></div>
  </section>
</main>
<div id="kf-error" hidden></div>
<script type="application/json" id="kf-data">${embedJson(data)}</script>
<script nonce="${attr(a.nonce)}" src="${attr(a.shimUri)}"></script>
<script nonce="${attr(a.nonce)}" src="${attr(a.heatmapUri)}"></script>
<script nonce="${attr(a.nonce)}" src="${attr(a.scriptUri)}"></script>
</body>
</html>
`;
}
