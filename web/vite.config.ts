/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import tailwindcss from '@tailwindcss/vite';

// The SPA is served by the Rust home server from the same origin, so API calls
// use relative URLs. `npm run dev` proxies /v1 to a locally running server.
export default defineConfig({
  plugins: [tailwindcss(), svelte()],
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
    environment: 'node',
    include: ['tests/**/*.test.ts'],
  },
});
