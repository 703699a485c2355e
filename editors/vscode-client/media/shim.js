// out/src/heatmap.js is compiled as a CommonJS module with no imports: give it an
// `exports` object and keep it as window.kfHeatmap for archive.js.
"use strict";
window.exports = window.kfHeatmap = {};
