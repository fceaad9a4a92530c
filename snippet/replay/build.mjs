// Build the session-replay assets from the packages pinned by package-lock.json:
//   snippet/replay.js                       the recorder (recorder.js + rrweb's record), minified IIFE
//   dashboard/vendor/rrweb-player/*         rrweb-player's UMD build and stylesheet, unchanged
// Run: npm ci --prefix snippet/replay && node snippet/replay/build.mjs (outputs are committed;
// tests/replay_assets.rs checks they match this build).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = process.env.REPLAY_BUILD_ROOT || join(here, '..', '..');
const rrweb = JSON.parse(readFileSync(join(here, 'node_modules/rrweb/package.json'))).version;
await build({
  entryPoints: [join(here, 'recorder.js')],
  bundle: true, minify: true, format: 'iife', target: 'es2017', legalComments: 'none',
  banner: { js: `/*! Sightline replay recorder; includes rrweb ${rrweb} (MIT, https://github.com/rrweb-io/rrweb) */` },
  outfile: join(root, 'snippet/replay.js'),
});
const player = join(root, 'dashboard/vendor/rrweb-player');
mkdirSync(player, { recursive: true });
copyFileSync(join(here, 'node_modules/rrweb-player/dist/rrweb-player.umd.min.cjs'), join(player, 'rrweb-player.js'));
copyFileSync(join(here, 'node_modules/rrweb-player/dist/style.min.css'), join(player, 'style.css'));
copyFileSync(join(here, 'LICENSE-rrweb'), join(player, 'LICENSE'));
