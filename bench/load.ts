// Load: a 100,000-image dataset and a run with 1,000,000 metric points, in the built studio.
//   npm run bench:load [-- --json] [-- --parts api,grid,run,runs]
// A benchmark, not a test: it prints medians and p95 and fails only when it cannot measure.
//   1. builds the app if out/renderer/index.html is missing;
//   2. seeds a temporary data folder through the store's own repos while no studio runs (as
//      bench:ui does): 100,000 image rows in 10 classes (10 % unlabeled), each with its own content
//      hash, whose files are hard links to one real digit and its thumbnail (the grid shows the
//      same picture everywhere; what is measured is rows, pages and tiles, not decoding); 200
//      finished runs, one of them with 1,000,000 metric points (loss, lr and examples/s at
//      300,000 steps, val loss and accuracy every 6th step), the others 300 steps each;
//   3. starts the built remote shell on it and measures the API from Node (images.page at random
//      depths, offset and keyset; runs.metrics whole and tail; runs.list; runs.get), then drives
//      Debian's Chromium (1360×860) with playwright-core: grid scrolling frame times and jumps,
//      the run page's charts loading 1,000,000 points and redrawing, the runs table loading.
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { CHART_POINTS } from '../preload/api';
import { intakeImage } from '../main/services/image-intake';
import { createMediaStore, sha256 } from '../main/services/media';
import { openStore } from '../main/store';
import type { MetricPoint } from '../main/store/runs';
import { digitPng } from '../test/digits';
import { api, createReport, createStudioProcesses, ensureBuilt, finishRun, launchChromium, loadLine, PAGE_PROBE, runMain, scrollRun, waitUntil, type Studio } from './shared';

const IMAGES = 100_000;
const CLASSES = Array.from({ length: 10 }, (_, d) => `digit${d}`);
const RUNS = 200;
const BIG_STEPS = 300_000;
const VAL_EVERY = 6;
const SMALL_STEPS = 300;

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    parts: { type: 'string', default: 'api,grid,run,runs' },
  },
});
const PARTS = new Set(args.parts.split(','));
const log = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`);
const report = createReport();
const { record } = report;
const processes = createStudioProcesses(log);

// ---------------------------------------------------------------- the data folder

/** Hard-links `source` to `target`; a file system's link limit (EMLINK) starts a fresh copy of the source. */
function linker(source: string) {
  let current = source;
  let copies = 0;
  return (target: string) => {
    try {
      linkSync(current, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EMLINK') throw error;
      current = `${source}.${++copies}`;
      copyFileSync(source, current);
      linkSync(current, target);
    }
  };
}

/** The metric points of a finished run of `steps` steps: loss, lr, examples/s each step; validation every VAL_EVERY. */
function* pointsOf(steps: number, seed: number): Generator<MetricPoint[]> {
  const CHUNK = 10_000;
  for (let from = 1; from <= steps; from += CHUNK) {
    const points: MetricPoint[] = [];
    for (let step = from; step < Math.min(steps + 1, from + CHUNK); step++) {
      const time = 1_780_000_000 + step * 0.05;
      const loss = 2.3 * Math.exp(-step / (steps / 4)) + 0.05 * Math.abs(Math.sin(step * 0.37 + seed)) + 0.02;
      points.push({ name: 'loss', step, value: loss, time });
      points.push({ name: 'lr', step, value: 1e-3 * 0.5 * (1 + Math.cos((Math.PI * step) / steps)), time });
      points.push({ name: 'examples_per_s', step, value: 600 + 40 * Math.sin(step * 0.01), time });
      if (step % VAL_EVERY === 0) {
        points.push({ name: 'val_loss', context: '', step, value: loss * 1.1, time });
        points.push({ name: 'val_accuracy', context: '', step, value: Math.min(0.99, 1 - loss / 2.5), time });
      }
    }
    yield points;
  }
}

/** Writes the dataset and the runs straight into the data folder, through the store's repos. */
async function seed(home: string): Promise<{ datasetId: number; bigRunId: number; points: number }> {
  const png = await digitPng(3, 0);
  const intake = await intakeImage(png);
  if (!intake.ok) throw new Error(intake.reason);
  const basePng = path.join(home, 'bench-base.png');
  const baseThumb = path.join(home, 'bench-base.webp');
  writeFileSync(basePng, png);
  writeFileSync(baseThumb, intake.thumbnail);
  const linkImage = linker(basePng);
  const linkThumb = linker(baseThumb);

  const store = openStore(path.join(home, 'studio.db'));
  const media = createMediaStore(home);
  try {
    for (const kind of ['media', 'thumbs']) {
      for (let s = 0; s < 256; s++) mkdirSync(path.join(home, kind, s.toString(16).padStart(2, '0')), { recursive: true });
    }
    const datasetId = store.datasets.create('Load 100k');
    const classIds = CLASSES.map((name) => store.datasets.ensureClass(datasetId, name));
    const importId = store.imports.start(datasetId, 'bench-load-seed', 'bench/load.ts: written directly into the store');
    const CHUNK = 5_000;
    for (let from = 0; from < IMAGES; from += CHUNK) {
      const rows: { i: number; hash: string }[] = [];
      for (let i = from; i < Math.min(IMAGES, from + CHUNK); i++) {
        // A content hash of its own per row (the bytes are shared: a benchmark of rows, not pixels).
        const hash = sha256(Buffer.from(`peft-studio bench:load image ${i}`));
        linkImage(media.pathOf('image', hash));
        linkThumb(media.pathOf('thumb', hash));
        rows.push({ i, hash });
      }
      store.transaction(() => {
        for (const { i, hash } of rows) {
          const fileName = `img-${String(i).padStart(6, '0')}.png`;
          const classId = i % 10 === 9 ? null : classIds[i % CLASSES.length]!;
          const id = store.images.add({ datasetId, hash, byteSize: png.byteLength, width: 28, height: 28, format: 'png', fileName, sourcePath: fileName, importId, classId });
          if (id === null) throw new Error(`duplicate image ${fileName}`);
        }
      });
    }
    store.imports.saveProgress(importId, { total: IMAGES, processed: IMAGES, added: IMAGES, duplicates: 0, skipped: 0 });
    store.imports.finish(importId, 'done');

    let points = 0;
    let bigRunId = 0;
    for (let r = 0; r < RUNS; r++) {
      const big = r === RUNS - 1;
      const steps = big ? BIG_STEPS : SMALL_STEPS;
      const id = store.runs.create(big ? 'one million points' : `load run ${r + 1}`, datasetId, null, 'lora', { spec: { steps, batchSize: 32 } });
      for (const chunk of pointsOf(steps, r)) {
        store.runs.appendMetrics(id, chunk);
        points += big ? chunk.length : 0;
      }
      store.runs.setStatus(id, 'done');
      if (big) bigRunId = id;
    }
    return { datasetId, bigRunId, points };
  } finally {
    store.close();
  }
}

// ---------------------------------------------------------------- the measurements

/** Times `calls` API calls made one after another; returns the samples in ms. */
async function timeCalls(studio: Studio, calls: [string, unknown][]): Promise<number[]> {
  const samples: number[] = [];
  for (const [channel, input] of calls) {
    const t0 = performance.now();
    await api(studio, channel, input);
    samples.push(performance.now() - t0);
  }
  return samples;
}

async function benchApi(studio: Studio, datasetId: number, bigRunId: number): Promise<void> {
  // Fixed pseudo-random depths, the same every run.
  const depths = Array.from({ length: 40 }, (_, i) => Math.floor(((i * 7_919) % 997) / 997 * (IMAGES - 240)));
  record('images.page, 240 at a random depth (offset)', await timeCalls(studio, depths.map((offset) => ['images.page', { datasetId, offset, limit: 240 }])));
  record(
    'images.page, 240 after a given image (keyset)',
    await timeCalls(studio, depths.map((offset) => ['images.page', { datasetId, offset, limit: 240, afterId: offset + 1 }])),
  );
  record(
    'images.page, 240 of one class at a random depth',
    await timeCalls(studio, depths.map((offset, i) => ['images.page', { datasetId, offset: Math.floor(offset / 10), limit: 240, classId: 1 + (i % 9) }])),
  );
  record(`runs.metrics, whole loss series (${BIG_STEPS.toLocaleString('en-US')} points)`, await timeCalls(studio, Array.from({ length: 5 }, () => ['runs.metrics', { id: bigRunId, name: 'loss', afterStep: -1 }])));
  record(
    `runs.metrics, the loss series within ${CHART_POINTS.toLocaleString('en-US')} points (what a chart asks)`,
    await timeCalls(studio, Array.from({ length: 20 }, () => ['runs.metrics', { id: bigRunId, name: 'loss', afterStep: -1, maxPoints: CHART_POINTS }])),
  );
  record('runs.metrics, the last 100 points (a live chart\'s poll)', await timeCalls(studio, Array.from({ length: 40 }, () => ['runs.metrics', { id: bigRunId, name: 'loss', afterStep: BIG_STEPS - 100 }])));
  record(`runs.list (${RUNS} runs)`, await timeCalls(studio, Array.from({ length: 20 }, () => ['runs.list', {}])));
  record('runs.get, the 1,000,000-point run', await timeCalls(studio, Array.from({ length: 20 }, () => ['runs.get', { id: bigRunId }])));
}

async function benchGrid(page: Page, datasetId: number): Promise<void> {
  await page.evaluate(`location.hash = '#/datasets/${datasetId}'`);
  const grid = page.getByTestId('thumb-grid');
  await grid.locator('[data-testid=thumb-tile] img').first().waitFor();
  await waitUntil(page, `document.querySelector('[data-testid=thumb-grid]').dataset.total === '${IMAGES}'`);
  log(`grid: ${await grid.getAttribute('aria-colcount')} columns, ${await grid.getAttribute('aria-rowcount')} rows`);
  const steady = await scrollRun(page, 60, 400, 120_000);
  record('grid steady scroll, 60 px per frame (frame time)', steady.frames, { long_frames_over_50ms: steady.frames.filter((f) => f > 50).length, max_dom_cells: steady.maxCells });
  const fling = await scrollRun(page, 'page', 600, 60_000, log);
  record('grid fling, 1 viewport per frame from the top (frame time)', fling.frames, {
    long_frames_over_50ms: fling.frames.filter((f) => f > 50).length,
    max_dom_cells: fling.maxCells,
    placeholder_share: Math.round((fling.placeholderSum / Math.max(1, fling.cellSum)) * 100) / 100,
    reached_tile: fling.lastIndex,
  });
  const tiles: number[] = [];
  const images: number[] = [];
  for (const fraction of [0.13, 0.87, 0.42, 0.66, 0.05, 0.95, 0.31, 0.74, 0.51, 0.99]) {
    const jump = (await page.evaluate(`window.__bench.jump(${fraction})`)) as { tiles: number; images: number };
    tiles.push(jump.tiles);
    if (!Number.isNaN(jump.images)) images.push(jump.images);
  }
  record('grid jump → tiles in view filled', tiles);
  record('grid jump → thumbnails in view loaded', images, { not_loaded_in_10s: 10 - images.length });
}

/** In the page: sets the hash, then waits for `ready` (an expression) and the frame after it; ms. */
const navigateTimed = (hash: string, ready: string) => `(async () => {
  const t0 = performance.now();
  location.hash = ${JSON.stringify(hash)};
  const until = t0 + 120000;
  while (!(${ready})) {
    if (performance.now() > until) throw new Error('timed out waiting for ' + ${JSON.stringify(ready)});
    await new Promise((r) => setTimeout(r, 4));
  }
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  return performance.now() - t0;
})()`;

async function benchRunPage(page: Page, bigRunId: number): Promise<void> {
  const CHARTS = ['chart-loss', 'chart-accuracy', 'chart-lr', 'chart-throughput'];
  const drawn = CHARTS.map((id) => `Number(document.querySelector('[data-testid=${id}]')?.dataset.points) > 0`).join(' && ');
  const loads: number[] = [];
  for (let i = 0; i < 5; i++) {
    await page.evaluate(navigateTimed('#/runs', `document.querySelectorAll('[data-testid=run-row]').length === ${RUNS}`));
    loads.push((await page.evaluate(navigateTimed(`#/runs/${bigRunId}`, drawn))) as number);
  }
  const points = (await page.evaluate(`[${CHARTS.map((id) => `Number(document.querySelector('[data-testid=${id}]').dataset.points)`).join(', ')}]`)) as number[];
  record('run page, 1,000,000 points: open → every chart drawn', loads, { points_drawn: points.join('+') });
  // A redraw of all four charts: their column narrows or widens (each chart's ResizeObserver
  // calls setSize, which redraws every point), timed to the frame after.
  const redraws = (await page.evaluate(`(async () => {
    const figure = document.querySelector('[data-testid=chart-loss]');
    const box = figure.parentElement;
    const out = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      box.style.width = i % 2 === 0 ? '80%' : '';
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      out.push(performance.now() - t0);
    }
    box.style.width = '';
    return out;
  })()`)) as number[];
  record('run page: all charts redrawn after a resize (to the next frame)', redraws);
}

async function benchRunsTable(page: Page): Promise<void> {
  const loads: number[] = [];
  for (let i = 0; i < 10; i++) {
    await page.evaluate(navigateTimed('#/models', `document.querySelector('[data-testid=run-row]') === null`));
    loads.push((await page.evaluate(navigateTimed('#/runs', `document.querySelectorAll('[data-testid=run-row]').length === ${RUNS}`))) as number);
  }
  record(`runs table: open → ${RUNS} rows shown`, loads);
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const t0 = performance.now();
  log(`bench:load — ${loadLine()} at start`);
  ensureBuilt(log);
  const home = mkdtempSync(path.join(tmpdir(), 'bench-load-home-'));
  let studio: Studio | null = null;
  let browser: Browser | null = null;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const child of processes.children) child.kill('SIGTERM');
      void (browser as Browser | null)?.close().catch(() => {});
      rmSync(home, { recursive: true, force: true });
      setTimeout(() => process.exit(130), 500);
    });
  }
  const failed: string[] = [];
  try {
    const seedStart = performance.now();
    const { datasetId, bigRunId, points } = await seed(home);
    log(`seed: ${IMAGES.toLocaleString('en-US')} images and ${RUNS} runs (${points.toLocaleString('en-US')} points in run ${bigRunId}) in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);
    studio = await processes.start(home);
    const part = async (what: string, run: () => Promise<void>) => {
      log(`measuring ${what}… (${loadLine()})`);
      try {
        await run();
      } catch (error) {
        failed.push(what);
        log(`${what} FAILED: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      }
    };
    if (PARTS.has('api')) await part('the API', () => benchApi(studio!, datasetId, bigRunId));
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
    const page = await context.newPage();
    await page.addInitScript({ content: PAGE_PROBE });
    page.setDefaultTimeout(120_000);
    await page.goto(studio.url);
    if (PARTS.has('grid')) await part('the grid', () => benchGrid(page, datasetId));
    if (PARTS.has('run')) await part('the run page', () => benchRunPage(page, bigRunId));
    if (PARTS.has('runs')) await part('the runs table', () => benchRunsTable(page));
    log(`browser: Chromium ${browser.version()}`);
  } finally {
    await (browser as Browser | null)?.close().catch(() => {});
    await (studio as Studio | null)?.stop();
    for (const child of processes.children) await processes.stop(child);
    rmSync(home, { recursive: true, force: true });
  }
  finishRun(report, log, { startedMs: t0, failed, json: args.json });
}

runMain(main);
