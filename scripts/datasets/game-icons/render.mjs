// The @iconify-json/* sets pinned in this folder's package.json, as JSON lines: see ../iconify-render.mjs.
import '../iconify-render.mjs';
