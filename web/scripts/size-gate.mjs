#!/usr/bin/env node
// Size gate: what the browser must load before the first screen — the entry
// script, the modules it imports statically (the <link rel=modulepreload>s
// Vite writes into index.html) and the stylesheets — gzipped (level 6, as
// `gzip -6`), must stay within the budget. Everything loaded with import()
// later does not count here; it is listed for information.
//
//   node scripts/size-gate.mjs [distDir]   (default dist; `npm run build` runs it)
//   KEZ_FIRST_LOAD_BUDGET_KB=150           the budget in kB (1000 bytes)
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET_KB = Number(process.env.KEZ_FIRST_LOAD_BUDGET_KB ?? 150);
const dist = resolve(process.argv[2] ?? 'dist');
const html = readFileSync(join(dist, 'index.html'), 'utf8');

/** @param {string} re */
const attrs = (re) => Array.from(html.matchAll(new RegExp(re, 'g')), (m) => m[1]);
const first = [
  ...attrs(String.raw`<script[^>]*type="module"[^>]*src="(/assets/[^"]+)"`),
  ...attrs(String.raw`<link[^>]*rel="modulepreload"[^>]*href="(/assets/[^"]+)"`),
  ...attrs(String.raw`<link[^>]*rel="stylesheet"[^>]*href="(/assets/[^"]+)"`),
];
if (!first.some((f) => f.endsWith('.js'))) {
  console.error(`size gate: no entry script found in ${join(dist, 'index.html')}`);
  process.exit(1);
}

/** @param {string} path */
function sizes(path) {
  const b = readFileSync(join(dist, path));
  return { raw: b.length, gz: gzipSync(b, { level: 6 }).length };
}
const kB = (/** @type {number} */ n) => (n / 1000).toFixed(1);

let raw = 0;
let gz = sizes('index.html').gz;
console.log(`first load (gzip -6):`);
console.log(`  ${kB(sizes('index.html').gz).padStart(6)} kB  index.html`);
for (const f of new Set(first)) {
  const s = sizes(f);
  raw += s.raw;
  gz += s.gz;
  console.log(`  ${kB(s.gz).padStart(6)} kB  ${f} (${kB(s.raw)} kB)`);
}
const lazy = readdirSync(join(dist, 'assets'))
  .map((f) => `/assets/${f}`)
  .filter((f) => f.endsWith('.js') && !first.includes(f));
let lazyGz = 0;
for (const f of lazy) lazyGz += sizes(f).gz;
console.log(`on demand: ${lazy.length} chunks, ${kB(lazyGz)} kB gzipped together`);
const verdict = gz <= BUDGET_KB * 1000 ? 'within' : 'OVER';
console.log(`first load: ${kB(gz)} kB gzipped (${kB(raw)} kB minified): ${verdict} the ${BUDGET_KB} kB budget`);
if (verdict === 'OVER') process.exit(1);
