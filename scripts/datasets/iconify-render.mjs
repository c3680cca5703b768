// Emit every icon of the pinned @iconify-json/* sets as JSON lines on stdout:
//   {"set": "<prefix>", "name": "<icon>", "left": 0, "top": 0, "width": W, "height": H,
//    "body": "<svg inner markup>", "categories": ["..."]}
// Usage, from a dataset package folder (emoji/, game-icons/), whose render.mjs imports this file:
//   node render.mjs [--sets a,b,c]   (default: every @iconify-json/* dependency in its package.json)
// Aliases and icons marked "hidden" (kept by Iconify only for backwards compatibility) are
// skipped; filtering and rasterising happen in Python (scripts/build_dataset.py). Output order
// is deterministic (sets, then icon names, sorted), so it is reproducible for the versions
// pinned in package.json / package-lock.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// The package folder is the working directory (scripts/build_dataset.py runs node there):
// its package.json names the sets and its node_modules holds them.
const here = process.cwd();
const readJson = (...parts) => JSON.parse(readFileSync(join(here, ...parts), 'utf-8'));

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const deps = Object.keys(readJson('package.json').dependencies).filter((d) => d.startsWith('@iconify-json/'));
const sets = String(arg('sets', deps.map((d) => d.slice('@iconify-json/'.length)).join(',')))
  .split(',')
  .filter(Boolean)
  .sort();

let buffer = '';
for (const set of sets) {
  const dir = ['node_modules', '@iconify-json', set];
  const data = readJson(...dir, 'icons.json');
  let categories = {};
  try {
    categories = readJson(...dir, 'metadata.json').categories || {};
  } catch {
    categories = {};
  }
  const byIcon = new Map();
  for (const [category, names] of Object.entries(categories)) {
    for (const n of names) byIcon.set(n, [...(byIcon.get(n) || []), category]);
  }
  for (const name of Object.keys(data.icons).sort()) {
    const icon = data.icons[name];
    if (icon.hidden) continue;
    const rec = {
      set,
      name,
      left: icon.left ?? data.left ?? 0,
      top: icon.top ?? data.top ?? 0,
      width: icon.width ?? data.width ?? 16,
      height: icon.height ?? data.height ?? 16,
      body: icon.body,
      categories: byIcon.get(name) || [],
    };
    if (icon.rotate || icon.hFlip || icon.vFlip) {
      rec.rotate = icon.rotate || 0;
      rec.hFlip = Boolean(icon.hFlip);
      rec.vFlip = Boolean(icon.vFlip);
    }
    buffer += JSON.stringify(rec) + '\n';
    if (buffer.length > 1 << 20) {
      process.stdout.write(buffer);
      buffer = '';
    }
  }
}
process.stdout.write(buffer);
