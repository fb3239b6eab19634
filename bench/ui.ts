// Labeling latency and grid scrolling of the built studio with 60,000 images, in Debian's Chromium.
//   npm run bench:ui [-- --json] [-- --presses N] [-- --ranges N] [-- --parts grid,focus,range]
// A benchmark, not a test: it prints figures (medians and p95 of repeated measurements) and fails
// only when it cannot measure. Steps:
//   1. builds the app if out/renderer/index.html is missing;
//   2. makes a 60,000-image dataset: 2,000 real MNIST digits go through the real importer (timed,
//      reported), the other 58,000 are written straight into the data folder with the store's own
//      repos (openStore, createMediaStore) while no studio runs — the importer does ~100–200 images/s (bench/import.ts),
//      far too slow for 60k here. Every image has its own bytes (a per-image PNG text chunk on a
//      pool of real digits), so 60,000 distinct content hashes, originals and thumbnails;
//   3. starts the built remote shell (node out/main/remote.js) on that folder and drives Chromium
//      with playwright-core: a fling through the whole grid, a steady scroll, jumps, then focus-view
//      hotkey labeling and shift-click range labeling, each keystroke timed inside the page.
// Every process it starts (studio, browser) is stopped and its temp folders removed at the end.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { intakeImage } from '../main/services/image-intake';
import { createMediaStore, sha256 } from '../main/services/media';
import { openStore } from '../main/store';
import { digitPng } from '../test/digits';
import { api, createReport, createStudioProcesses, ensureBuilt, finishRun, launchChromium, loadLine, PAGE_PROBE, round, runMain, scrollRun, waitUntil, type Studio } from './shared';

const TOTAL = 60_000;
const REAL_IMPORT = 2_000;
/** Seeded images from this index on are left unlabeled (loose files of the ImageFolder). */
const UNLABELED_FROM = 50_000;
const CLASSES = Array.from({ length: 10 }, (_, d) => `digit${d}`);
/** Real digits per class the 60,000 images are made from. */
const POOL = 100;
/** The fling stops here if it has not reached the bottom (a slow machine), and says where it got. */
const FLING_MAX_MS = 240_000;

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    presses: { type: 'string', default: '50' },
    ranges: { type: 'string', default: '10' },
    parts: { type: 'string', default: 'grid,focus,range' },
  },
});
const PRESSES = Number(args.presses);
const PARTS = new Set(args.parts.split(','));
const RANGES = Number(args.ranges);
const log = (line: string) => (args.json ? process.stderr : process.stdout).write(`${line}\n`);

const report = createReport();
const { record, results } = report;
let importLine: Record<string, unknown> | null = null;
/** Parts that could not be measured (the exit status says so). */
const failed: string[] = [];
const processes = createStudioProcesses(log);

// ---------------------------------------------------------------- the dataset

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
/** The same PNG with a tEXt chunk before IEND: other bytes (another hash), the same pixels. */
function withTextChunk(png: Buffer, text: string): Buffer {
  const type = Buffer.from('tEXt', 'latin1');
  const data = Buffer.from(`Comment\0${text}`, 'latin1');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([type, data])));
  const iend = png.length - 12;
  return Buffer.concat([png.subarray(0, iend), length, type, data, crc, png.subarray(iend)]);
}

interface Base {
  png: Buffer;
  thumb: Buffer;
}
/** POOL real digits per class, each with the thumbnail the importer makes of it (same pixels, same thumbnail). */
async function basePool(): Promise<Base[][]> {
  const pool: Base[][] = [];
  for (let d = 0; d < CLASSES.length; d++) {
    const row: Base[] = [];
    for (let i = 0; i < POOL; i++) {
      const png = await digitPng(d, i);
      const intake = await intakeImage(png);
      if (!intake.ok) throw new Error(`digit ${d}/${i}: ${intake.reason}`);
      row.push({ png, thumb: intake.thumbnail });
    }
    pool.push(row);
  }
  return pool;
}
/** Image i of the 60,000: its class (null: unlabeled), bytes and file name. */
function imageOf(pool: Base[][], i: number) {
  const digit = i % CLASSES.length;
  const base = pool[digit]![Math.floor(i / CLASSES.length) % POOL]!;
  return {
    className: i < UNLABELED_FROM ? CLASSES[digit]! : null,
    png: withTextChunk(base.png, `peft-studio bench image ${i}`),
    thumb: base.thumb,
    fileName: `img-${String(i).padStart(5, '0')}.png`,
  };
}

/** Writes the rest of the 60,000 straight into the data folder, through the store's repos. */
function seed(home: string, datasetId: number, pool: Base[][]): number {
  const started = performance.now();
  const store = openStore(path.join(home, 'studio.db'));
  const media = createMediaStore(home);
  try {
    for (const kind of ['media', 'thumbs']) {
      for (let s = 0; s < 256; s++) mkdirSync(path.join(home, kind, s.toString(16).padStart(2, '0')), { recursive: true });
    }
    const classIds = new Map(CLASSES.map((name) => [name, store.datasets.ensureClass(datasetId, name)]));
    const importId = store.imports.start(datasetId, 'bench-ui-seed', 'bench/ui.ts: written directly into the store');
    const CHUNK = 2_000;
    let added = 0;
    for (let from = REAL_IMPORT; from < TOTAL; from += CHUNK) {
      const rows: { image: ReturnType<typeof imageOf>; hash: string }[] = [];
      for (let i = from; i < Math.min(TOTAL, from + CHUNK); i++) {
        const image = imageOf(pool, i);
        const hash = sha256(image.png);
        writeFileSync(media.pathOf('image', hash), image.png);
        writeFileSync(media.pathOf('thumb', hash), image.thumb);
        rows.push({ image, hash });
      }
      store.transaction(() => {
        for (const { image, hash } of rows) {
          const id = store.images.add({
            datasetId, hash, byteSize: image.png.byteLength, width: 28, height: 28, format: 'png', fileName: image.fileName,
            sourcePath: image.className ? `${image.className}/${image.fileName}` : image.fileName, importId,
            classId: image.className ? classIds.get(image.className)! : null,
          });
          if (id === null) throw new Error(`duplicate image ${image.fileName}`);
          added++;
        }
      });
    }
    const counts = { total: added, processed: added, added, duplicates: 0, skipped: 0 };
    store.imports.saveProgress(importId, counts);
    store.imports.finish(importId, 'done');
  } finally {
    store.close();
  }
  return performance.now() - started;
}

// ---------------------------------------------------------------- the runs


async function benchGrid(page: Page): Promise<void> {
  const grid = page.getByTestId('thumb-grid');
  await grid.locator('[data-testid=thumb-tile] img').first().waitFor();
  await waitUntil(page, `document.querySelector('[data-testid=thumb-grid]').dataset.total === '${TOTAL}'`);
  const columns = Number(await grid.getAttribute('aria-colcount'));
  log(`grid: ${columns} columns, ${Number(await grid.getAttribute('aria-rowcount'))} rows`);

  const fling = await scrollRun(page, 'page', Infinity, FLING_MAX_MS, log);
  if (fling.lastIndex < TOTAL - columns) log(`the fling stopped after ${FLING_MAX_MS / 1000} s at tile ${fling.lastIndex} of ${TOTAL}`);
  record(`grid fling: 1 viewport/frame, ${fling.atEnd ? 'top→bottom' : `top→tile ${fling.lastIndex}`} (frame time)`, fling.frames, {
    long_frames_over_50ms: fling.frames.filter((f) => f > 50).length,
    max_dom_cells: fling.maxCells,
    placeholder_share: round((fling.placeholderSum / Math.max(1, fling.cellSum)) * 100) / 100,
    wall_s: round(fling.wallMs / 1000),
    last_index: fling.lastIndex,
  });

  const steady = await scrollRun(page, 60, 400, 120_000);
  record('grid steady: 60 px/frame, 400 frames (frame time)', steady.frames, {
    long_frames_over_50ms: steady.frames.filter((f) => f > 50).length,
    max_dom_cells: steady.maxCells,
    placeholder_share: round((steady.placeholderSum / Math.max(1, steady.cellSum)) * 100) / 100,
  });

  const tiles: number[] = [];
  const images: number[] = [];
  let maxCells = 0;
  let slow = 0;
  let broken = 0;
  for (const fraction of [0.13, 0.87, 0.42, 0.66, 0.05, 0.95, 0.31, 0.74, 0.51, 0.22]) {
    const jump = (await page.evaluate(`window.__bench.jump(${fraction})`)) as { tiles: number; images: number; broken: number; cells: number };
    tiles.push(jump.tiles);
    if (Number.isNaN(jump.images)) slow++;
    else images.push(jump.images);
    broken += jump.broken;
    maxCells = Math.max(maxCells, jump.cells);
  }
  record('grid jump: scrollTop → tiles in view filled', tiles, { max_dom_cells: maxCells });
  record('grid jump: scrollTop → thumbnails in view loaded', images, { not_loaded_in_10s: slow, broken_thumbnails: broken });
}

async function benchFocus(page: Page): Promise<void> {
  await page.getByRole('button', { name: /^Unlabeled/ }).click();
  await waitUntil(page, `document.querySelector('[data-testid=filter-total]')?.textContent?.replace(/\\D/g, '') === document.querySelector('[data-testid=dataset-unlabeled-count]')?.textContent?.replace(/\\D/g, '')`);
  await page.evaluate(`document.querySelector('[data-testid=thumb-grid]').scrollTop = 0`);
  const first = page.locator('[data-testid=thumb-tile][data-index="0"][data-class=""]');
  await first.waitFor();
  await first.click();
  await page.keyboard.press('Enter');
  await page.getByTestId('focus-view').waitFor();
  const remaining = () => page.evaluate(`Number(document.querySelector('[data-testid=focus-remaining]').textContent.replace(/\\D/g, ''))`) as Promise<number>;
  await waitUntil(page, `document.querySelector('.focus-image')?.complete && Number(document.querySelector('[data-testid=focus-remaining]')?.textContent?.replace(/\\D/g, '')) > 0`);
  const before = await remaining();
  const hotkey = (await page.getByTestId(`class-hotkey-${CLASSES[3]}`).textContent())!.trim();

  const samples = { dom: [] as number[], shown: [] as number[], image: [] as number[], stored: [] as number[] };
  const since = (await page.evaluate('performance.now()')) as number;
  for (let i = 0; i < PRESSES; i++) {
    await page.evaluate('window.__bench.focusArm()');
    await page.keyboard.press(hotkey);
    const r = (await page.evaluate('window.__bench.focusDone()')) as Record<keyof typeof samples, number> & { from: string; to: string };
    if (r.from === r.to) throw new Error('the focus view did not move on');
    for (const k of Object.keys(samples) as (keyof typeof samples)[]) samples[k].push(r[k]);
    await page.waitForTimeout(150); // a quick labeler's pace, not a queue of keystrokes
  }
  await page.waitForTimeout(500);
  const after = await remaining();
  if (after !== before - PRESSES) throw new Error(`focus view: ${after} unlabeled left after ${PRESSES} presses, from ${before}`);
  // What the page asked the studio meanwhile: calls per press and their median round trip.
  const calls = (await page.evaluate(`(() => {
    const by = {};
    for (const a of window.__bench.api) if (a.started >= ${since}) (by[a.channel] ??= []).push(a.answered - a.started);
    return Object.entries(by).map(([c, d]) => c + ' ' + (d.length / ${PRESSES}).toFixed(1) + '/press ' + d.sort((x, y) => x - y)[d.length >> 1].toFixed(0) + ' ms');
  })()`)) as string[];
  log(`  API calls during focus labeling: ${calls.join(', ')}`);
  record('focus key → next image shown (DOM)', samples.dom);
  record('focus key → next frame painted', samples.shown);
  record('focus key → next image decoded', samples.image);
  record('focus key → label stored (labels.set answered)', samples.stored);
  await page.keyboard.press('Escape');
  await page.getByTestId('focus-view').waitFor({ state: 'hidden' });
}

async function benchRange(page: Page): Promise<void> {
  await page.getByRole('button', { name: /^All/ }).click();
  await waitUntil(page, `document.querySelector('[data-testid=filter-total]')?.textContent?.replace(/\\D/g, '') === '${TOTAL}'`);
  await page.evaluate(`document.querySelector('[data-testid=thumb-grid]').scrollTop = 0`);
  const tile = (i: number) => page.locator(`[data-testid=thumb-tile][data-index="${i}"]`);
  await tile(0).click();
  // Bring tile 99 into the DOM (the grid renders only the rows in view), then shift-click it.
  await page.evaluate(`(async () => {
    const g = document.querySelector('[data-testid=thumb-grid]');
    while (!g.querySelector('[data-testid=thumb-tile][data-index="99"]')) {
      g.scrollTop += 200;
      await new Promise((r) => setTimeout(r, 50));
    }
  })()`);
  await tile(99).click({ modifiers: ['Shift'] });
  await waitUntil(page, `document.querySelector('[data-testid=selection-count]').textContent === '100'`);

  const samples = { tiles: [] as number[], shown: [] as number[], stored: [] as number[], counts: [] as number[] };
  for (let i = 0; i < RANGES; i++) {
    const className = CLASSES[1 + (i % 2)]!; // alternate, so every press changes all 100 labels
    const hotkey = (await page.getByTestId(`class-hotkey-${className}`).textContent())!.trim();
    await page.evaluate(`window.__bench.rangeArm(0, 99, ${JSON.stringify(className)})`);
    await page.keyboard.press(hotkey);
    const r = (await page.evaluate('window.__bench.rangeDone()')) as Record<keyof typeof samples, number>;
    for (const k of Object.keys(samples) as (keyof typeof samples)[]) samples[k].push(r[k]);
    await page.waitForTimeout(1_200); // past the 1 s throttle of datasets.changed refreshes
  }
  const stored = await page.evaluate(`fetch('/api/images.page', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ datasetId: Number(location.hash.split('/').pop()), offset: 0, limit: 100 }) }).then((r) => r.json())`);
  const items = (stored as { value: { items: { classId: number }[] } }).value.items;
  if (new Set(items.map((item) => item.classId)).size !== 1) throw new Error('the 100 tiles do not share one stored label');
  record('range of 100, key → visible tiles relabeled (DOM)', samples.tiles);
  record('range of 100, key → next frame painted', samples.shown);
  record('range of 100, key → 100 labels stored', samples.stored);
  record('range of 100, key → class counts updated', samples.counts);
}

// ---------------------------------------------------------------- main



async function main(): Promise<void> {
  const t0 = performance.now();
  log(`bench:ui — ${loadLine()} at start`);
  ensureBuilt(log);
  const home = mkdtempSync(path.join(tmpdir(), 'bench-ui-home-'));
  const folder = mkdtempSync(path.join(tmpdir(), 'bench-ui-src-'));
  let studio: Studio | null = null;
  let browser: Browser | null = null;
  let closing = false;
  // Stopped with Ctrl+C or a kill: stop what this started and remove its folders, then go.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      closing = true;
      for (const child of processes.children) child.kill('SIGTERM');
      void (browser as Browser | null)?.close().catch(() => {});
      rmSync(home, { recursive: true, force: true });
      rmSync(folder, { recursive: true, force: true });
      setTimeout(() => process.exit(130), 500);
    });
  }
  try {
    const pool = await basePool();
    // The first 2,000 as an ImageFolder, imported by the studio's importer (timed).
    for (const name of CLASSES) mkdirSync(path.join(folder, name));
    for (let i = 0; i < REAL_IMPORT; i++) {
      const image = imageOf(pool, i);
      writeFileSync(path.join(folder, image.className!, image.fileName), image.png);
    }
    studio = await processes.start(home);
    const dataset = await api<{ id: number }>(studio, 'datasets.create', { name: 'Bench 60k' });
    const importStart = performance.now();
    const started = await api<{ importId: number }>(studio, 'imports.start', { datasetId: dataset.id, source: { kind: 'folder', path: folder } });
    let report: { status: string; added: number };
    for (;;) {
      report = await api<{ status: string; added: number }>(studio, 'imports.get', { id: started.importId });
      if (report.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const importMs = performance.now() - importStart;
    if (report.status !== 'done' || report.added !== REAL_IMPORT) throw new Error(`the import ended ${report.status} with ${report.added} added`);
    importLine = { case: 'import through the importer', n: REAL_IMPORT, total_ms: round(importMs), images_per_s: round(REAL_IMPORT / (importMs / 1000)) };
    log(`import: ${REAL_IMPORT} images through the importer in ${(importMs / 1000).toFixed(1)} s = ${importLine.images_per_s} images/s`);
    await studio.stop();
    studio = null;

    const seedMs = seed(home, dataset.id, pool);
    log(`seed: ${TOTAL - REAL_IMPORT} images written into the store directly in ${(seedMs / 1000).toFixed(1)} s`);

    const open = async () => {
      const old = browser;
      browser = null;
      await old?.close().catch(() => {});
      await studio?.stop();
      studio = await processes.start(home);
      const b = (browser = await launchChromium());
      b.on('disconnected', () => {
        if (browser !== b || closing) return;
        processes.outsideStops++;
        log('the browser was closed from outside');
      });
      const context = await b.newContext({ viewport: { width: 1360, height: 860 } });
      const page = await context.newPage();
      await page.addInitScript({ content: PAGE_PROBE });
      page.setDefaultTimeout(60_000);
      await page.goto(studio.url);
      await page.evaluate(`location.hash = '#/datasets/${dataset.id}'`);
      return page;
    };
    /**
     * Runs one part; when the studio or the browser was stopped from outside meanwhile (this
     * machine is shared), starts both again and repeats that part, its figures dropped.
     */
    let page: Page | null = null;
    const part = async (what: string, run: (page: Page) => Promise<void>) => {
      for (let attempt = 1; ; attempt++) {
        if (!page || !studio?.alive() || !browser?.isConnected()) page = await open();
        log(`measuring ${what}…`);
        const stopsBefore = processes.outsideStops;
        const kept = results.length;
        try {
          await run(page);
          if (processes.outsideStops === stopsBefore) return;
        } catch (error) {
          if (processes.outsideStops === stopsBefore || attempt >= 3) {
            // One part failing leaves the others' figures standing; the exit status says it failed.
            failed.push(what);
            log(`${what} FAILED: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
            page = null;
            return;
          }
        }
        if (attempt >= 3) throw new Error(`${what}: stopped from outside three times`);
        results.length = kept;
        page = null;
        log(`${what}: the studio or the browser was stopped from outside; starting them again and repeating this part`);
      }
    };
    if (PARTS.has('grid')) await part('the grid', benchGrid);
    if (PARTS.has('focus')) await part(`focus-view labeling (${PRESSES} presses)`, benchFocus);
    if (PARTS.has('range')) await part(`range labeling (${RANGES} × 100 tiles)`, benchRange);
    log(`browser: Chromium ${(browser as Browser | null)?.version()}`);
  } finally {
    closing = true;
    await (browser as Browser | null)?.close().catch(() => {});
    await (studio as Studio | null)?.stop();
    for (const child of processes.children) await processes.stop(child);
    rmSync(home, { recursive: true, force: true });
    rmSync(folder, { recursive: true, force: true });
  }
  finishRun(report, log, { startedMs: t0, failed, json: args.json, before: importLine ? [importLine] : [] });
}

runMain(main);
