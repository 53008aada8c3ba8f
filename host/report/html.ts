/**
 * `csrun report --html`: one self-contained page, `model_dir/report/index.html`, that opens offline. The
 * page script (host/report/client/, TypeScript) is bundled with uPlot by esbuild when the page is written;
 * the script, uPlot's stylesheet, the page's own and the data (host/report/data.ts) are inlined — no
 * network request. The data is embedded as JSON in a `<script type="application/json">` with `<` escaped,
 * and the page only ever assigns user-supplied names as text, so a layer called `<img onerror=…>` stays text.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ensureDir, writeFileAtomic } from '../../runtime/fs.ts';
import type { ReportData } from './data.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

let bundle: Promise<string> | undefined;

/** The page script: client/main.ts and uPlot as one minified IIFE (built once per process). */
export function pageScript(): Promise<string> {
  bundle ??= build({
    entryPoints: [path.join(HERE, 'client', 'main.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    minify: true,
    target: 'chrome100',
    legalComments: 'inline',
    logLevel: 'silent',
  }).then((r) => r.outputFiles[0].text);
  return bundle;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that is safe inside a `<script>` element: no `<` (so no `</script>` or `<!--`), no U+2028/9. */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** `</script` and `</style` cannot end an inlined script or stylesheet early. */
const inlineSafe = (s: string, tag: string) => s.replace(new RegExp(`</${tag}`, 'gi'), `<\\/${tag}`);

/**
 * The page for one report, or two side by side (`compare`: A = reports[0], B = reports[1]).
 * @returns the HTML document text.
 */
export async function renderHtml(reports: ReportData[], compare = false): Promise<string> {
  const js = await pageScript();
  const css = fs.readFileSync(path.join(HERE, 'client', 'page.css'), 'utf8') + fs.readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  const title = compare ? `${reports[0].title} vs ${reports[1].title}` : reports[0].title;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; connect-src data: blob:">
<title>csrun report: ${escapeHtml(title)}</title>
<style>${inlineSafe(css, 'style')}</style>
</head>
<body>
<main id="app"></main>
<script id="report-data" type="application/json">${scriptJson({ compare, reports })}</script>
<script>${inlineSafe(js, 'script')}</script>
</body>
</html>
`;
}

/**
 * Writes `dir/index.html` (creating `dir`), atomically (a temp file renamed over it).
 * @returns the file written.
 */
export async function writeHtmlReport(dir: string, reports: ReportData[], compare = false): Promise<string> {
  const html = await renderHtml(reports, compare);
  ensureDir(dir);
  const file = path.join(dir, 'index.html');
  writeFileAtomic(file, html);
  return file;
}
