// Emit deterministic DiceBear "pixel-art" SVGs (16x16 grid, crisp edges) as JSON lines on stdout:
//   {"index": i, "seed": "<prefix>-<i>", "svg": "<svg ...>"}
// Usage: node render.mjs --count N --seed S [--start K]
// Each avatar depends only on its seed string, so the output is reproducible
// for the pinned package versions (see package.json / package-lock.json).
import { createAvatar } from '@dicebear/core';
import * as pixelArt from '@dicebear/pixel-art';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const count = Number.parseInt(arg('count', '10'), 10);
const start = Number.parseInt(arg('start', '0'), 10);
const prefix = String(arg('seed', '0'));

let buffer = '';
for (let i = start; i < start + count; i++) {
  const seed = `${prefix}-${i}`;
  const svg = createAvatar(pixelArt, { seed, size: 256 }).toString();
  buffer += JSON.stringify({ index: i, seed, svg }) + '\n';
  if (buffer.length > 1 << 20) {
    process.stdout.write(buffer);
    buffer = '';
  }
}
process.stdout.write(buffer);
