// Copies the front-end packages' built files from node_modules into static/vendor/ (git-ignored), where
// the web service serves them. Nothing third-party is committed: `npm ci && npm run build` makes them.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "static", "vendor");
const files = {
  "htmx.org/dist/htmx.min.js": "htmx.min.js",
  "uplot/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
  "uplot/dist/uPlot.min.css": "uPlot.min.css",
};
mkdirSync(vendor, { recursive: true });
for (const [from, to] of Object.entries(files)) {
  copyFileSync(join(here, "node_modules", from), join(vendor, to));
}
console.log(`front-end assets copied to ${vendor}`);
