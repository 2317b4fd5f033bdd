/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import tailwindcss from '@tailwindcss/vite';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plugin } from 'vite';

// The service worker (public/sw.js, copied as is) precaches every built
// /assets/ file, the chunks loaded on demand with import() too, so an
// installed app works offline even in parts it has not opened yet. The list
// is written into dist/sw.js here: a new build is a new sw.js, which the
// browser installs (and so precaches) by itself.
const PRECACHE_LINE = 'const PRECACHE = [];';
function precacheList(): Plugin {
  let assets: string[] = [];
  let outDir = 'dist';
  return {
    name: 'kez-precache-list',
    apply: 'build',
    configResolved(config) {
      outDir = config.build.outDir;
    },
    writeBundle(_options, bundle) {
      assets = Object.keys(bundle)
        .filter((f) => f.startsWith('assets/') && !f.endsWith('.map'))
        .sort();
    },
    closeBundle() {
      const path = join(outDir, 'sw.js');
      const sw = readFileSync(path, 'utf8');
      if (!sw.includes(PRECACHE_LINE)) throw new Error(`${path}: no '${PRECACHE_LINE}' line to fill in`);
      const list = JSON.stringify(assets.map((f) => `/${f}`));
      writeFileSync(path, sw.replace(PRECACHE_LINE, `const PRECACHE = ${list};`));
    },
  };
}

// The reaction picker's data (src/lib/ops/emoji.ts imports emojibase-data's
// English compact set, a chunk of its own): only the entries it offers (no
// component or regional-indicator entry) and the fields it reads (no skin
// variants, hexcodes or emoticons); 571 kB → 236 kB (49 kB gzip) after the build.
function emojiData(): Plugin {
  return {
    name: 'kez-emoji-data',
    enforce: 'pre',
    transform(code, id) {
      if (!/emojibase-data[\\/]en[\\/]compact\.json$/.test(id.split('?')[0]!)) return null;
      const all = JSON.parse(code) as { unicode: string; label: string; group?: number; order?: number; tags?: string[] }[];
      const kept = all.filter((e) => e.group !== undefined && e.group !== 2).map(({ unicode, label, group, order, tags }) => ({ unicode, label, group, order, tags }));
      return { code: JSON.stringify(kept), map: null };
    },
  };
}

// The SPA is served by the Rust home server from the same origin, so API calls
// use relative URLs. `npm run dev` proxies /v1 to a locally running server.
export default defineConfig({
  plugins: [tailwindcss(), svelte(), precacheList(), emojiData()],
  server: {
    proxy: {
      '/v1': { target: process.env.KEZ_DEV_SERVER ?? 'http://127.0.0.1:6969', changeOrigin: false },
    },
  },
  build: {
    target: 'es2022',
    sourcemap: false,
  },
  test: {
    projects: [
      { extends: true, test: { name: 'unit', environment: 'node', include: ['tests/**/*.test.ts'], exclude: ['tests/**/*.dom.test.ts'] } },
      // Components mounted in happy-dom: Svelte's client build (the browser condition).
      { extends: true, resolve: { conditions: ['browser'] }, test: { name: 'dom', environment: 'happy-dom', include: ['tests/**/*.dom.test.ts'] } },
    ],
  },
});
