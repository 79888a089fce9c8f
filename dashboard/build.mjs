// Bundles the dashboard into dist/ (index.html, app.js, app.css): one
// self-contained folder that hwnas-server serves; nothing comes from a CDN.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';

const dist = new URL('./dist/', import.meta.url).pathname;
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
await esbuild.build({
  entryPoints: ['src/main.jsx'],
  bundle: true,
  minify: true,
  sourcemap: false,
  target: ['chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outfile: dist + 'app.js',
  logLevel: 'warning',
});
copyFileSync(new URL('./src/index.html', import.meta.url).pathname, dist + 'index.html');
console.log('dashboard: built', dist);
