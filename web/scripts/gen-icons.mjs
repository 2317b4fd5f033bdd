#!/usr/bin/env node
// Renders the PWA icons in public/ from the SVGs below with Chromium
// (playwright-core, like the e2e; CHROMIUM= overrides `which chromium`).
// Run after changing the logo: `node scripts/gen-icons.mjs`. The PNGs are committed.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const pub = resolve(dirname(fileURLToPath(import.meta.url)), '../public');
const ACCENT = '#4f46e5';

/** The lock of favicon.svg (64×64 units), white on the accent colour. */
const lock = (fg = '#fff', hole = ACCENT) =>
  `<path d="M22 28v-6a10 10 0 0 1 20 0v6" fill="none" stroke="${fg}" stroke-width="5" stroke-linecap="round"/>` +
  `<rect x="16" y="28" width="32" height="24" rx="5" fill="${fg}"/><circle cx="32" cy="40" r="4" fill="${hole}"/>`;

/** @param {string} body */
const svg = (body) => `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">${body}</svg>`;
// "any": the favicon (rounded square, transparent corners).
const anyIcon = svg(`<rect width="64" height="64" rx="14" fill="${ACCENT}"/>${lock()}`);
// "maskable" and Apple: full bleed; the lock shrunk into the central safe zone
// (a circle of 40% radius), since the platform crops to its own shape.
/** @param {number} scale */
const fullBleed = (scale) =>
  svg(`<rect width="64" height="64" fill="${ACCENT}"/><g transform="translate(32 32) scale(${scale}) translate(-32 -31)">${lock()}</g>`);
// Android status-bar badge: only the alpha channel counts.
const badge = svg(`<g transform="translate(32 32) scale(1.3) translate(-32 -31)">${lock('#fff', 'transparent')}</g>`);

/** @type {[name: string, svg: string, size: number][]} */
const outputs = [
  ['icon-192.png', anyIcon, 192],
  ['icon-512.png', anyIcon, 512],
  ['icon-maskable-192.png', fullBleed(0.72), 192],
  ['icon-maskable-512.png', fullBleed(0.72), 512],
  ['apple-touch-icon.png', fullBleed(0.8), 180],
  ['badge-72.png', badge, 72],
];

const executablePath =
  process.env.CHROMIUM ?? execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
try {
  for (const [name, source, size] of outputs) {
    const page = await browser.newPage({ viewport: { width: size, height: size }, deviceScaleFactor: 1 });
    const src = `data:image/svg+xml;base64,${Buffer.from(source).toString('base64')}`;
    await page.setContent(
      `<style>html,body{margin:0;background:transparent}img{display:block}</style><img src="${src}" width="${size}" height="${size}">`,
    );
    await page.locator('img').evaluate((img) => /** @type {HTMLImageElement} */ (img).decode());
    writeFileSync(join(pub, name), await page.screenshot({ omitBackground: true, type: 'png' }));
    await page.close();
    console.log(`public/${name} (${size}×${size})`);
  }
} finally {
  await browser.close();
}
