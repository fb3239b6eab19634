// Helpers shared by the benchmarks that drive the built studio in Chromium (bench:ui, bench:load):
// statistics and the results table, starting/stopping the remote shell (noticing when another job
// on a shared machine stops it), calling its API, launching Debian's Chromium, and the in-page
// probe (plain JavaScript: frame times of a scrolling grid, jumps, keystroke timings).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { spawnRemoteShell } from '../test/remote-shell';

// ---------------------------------------------------------------- statistics

export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
export const round = (x: number) => Math.round(x * 10) / 10;
export const loadLine = () => `load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} on ${cpus().length} cores`;

export interface CaseResult {
  case: string;
  median_ms: number;
  p95_ms: number;
  n: number;
  [extra: string]: unknown;
}
/** Collected cases (median and p95 of each case's samples) and their aligned text table. */
export function createReport() {
  const results: CaseResult[] = [];
  return {
    results,
    record(name: string, samples: number[], extra: Record<string, unknown> = {}): void {
      results.push({ case: name, median_ms: round(quantile(samples, 0.5)), p95_ms: round(quantile(samples, 0.95)), n: samples.length, ...extra });
    },
    table(log: (line: string) => void): void {
      const rows = results.map((r) => {
        const extra = Object.entries(r)
          .filter(([k]) => !['case', 'median_ms', 'p95_ms', 'n'].includes(k))
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(' ');
        return [r.case, r.median_ms.toFixed(1), r.p95_ms.toFixed(1), String(r.n), extra];
      });
      const head = ['case', 'median ms', 'p95 ms', 'n', ''];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
      log(line(head));
      for (const r of rows) log(line(r));
    },
  };
}

/**
 * The end of a benchmark run: the table, the load at the end, one JSON line per case with --json
 * (`before` first), and a failing exit status when parts could not be measured.
 */
export function finishRun(
  report: ReturnType<typeof createReport>,
  log: (line: string) => void,
  options: { startedMs: number; failed: string[]; json: boolean; before?: Record<string, unknown>[] },
): void {
  log('');
  report.table(log);
  log('');
  log(`${loadLine()} at the end; whole run ${((performance.now() - options.startedMs) / 1000).toFixed(0)} s`);
  if (options.json) for (const r of [...(options.before ?? []), ...report.results]) process.stdout.write(`${JSON.stringify(r)}\n`);
  if (options.failed.length > 0) {
    log(`not measured: ${options.failed.join(', ')}`);
    process.exitCode = 1;
  }
}

/** Runs a benchmark's main; an error that escapes it ends the process with its stack. */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  });
}

// ---------------------------------------------------------------- the studio and the browser

/** Builds the app (npx electron-vite build) when out/renderer/index.html is missing. */
export function ensureBuilt(log: (line: string) => void): void {
  const root = path.resolve(__dirname, '..');
  if (existsSync(path.join(root, 'out/renderer/index.html'))) return;
  log('out/renderer/index.html is missing: building (npx electron-vite build)…');
  execFileSync('npx', ['electron-vite', 'build'], { cwd: root, stdio: ['ignore', process.stderr, process.stderr] });
}

export interface Studio {
  url: string;
  origin: string;
  token: string;
  alive(): boolean;
  stop(): Promise<void>;
}

/**
 * Starts and stops built remote shells on data folders. `outsideStops` counts processes stopped by
 * someone else while the benchmark ran (other jobs on a shared machine), so a part can be redone.
 */
export function createStudioProcesses(log: (line: string) => void) {
  const children = new Set<ChildProcess>();
  const stopping = new WeakSet<ChildProcess>();
  const processes = {
    outsideStops: 0,
    children,
    /** Starts the built remote shell on `home`, tracked so a stop from outside is noticed. */
    async start(home: string): Promise<Studio> {
      const { child, ready } = spawnRemoteShell(home);
      children.add(child);
      child.on('exit', (code, signal) => {
        children.delete(child);
        if (stopping.has(child)) return;
        processes.outsideStops++;
        log(`the studio (pid ${child.pid}) was stopped from outside (${signal ?? `exit ${code}`})`);
      });
      const address = await ready;
      return {
        ...address,
        alive: () => child.exitCode === null && child.signalCode === null,
        stop: () => processes.stop(child),
      };
    },
    stop(child: ChildProcess): Promise<void> {
      return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        stopping.add(child);
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      });
    },
  };
  return processes;
}

export async function api<T>(studio: { origin: string; token: string }, channel: string, input: unknown): Promise<T> {
  const response = await fetch(`${studio.origin}/api/${channel}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${studio.token}` },
    body: JSON.stringify(input),
  });
  const envelope = (await response.json()) as { ok: true; value: T } | { ok: false; error: { message: string } };
  if (!envelope.ok) throw new Error(`${channel}: ${envelope.error.message}`);
  return envelope.value;
}

/** Debian's Chromium (CHROMIUM_PATH overrides it), without background traffic. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

// ---------------------------------------------------------------- in the page
// Plain JavaScript (this file is type-checked without the DOM library). Times are
// performance.now() of the page; a keystroke's time is its keydown event's timeStamp.

export const PAGE_PROBE = String.raw`
(() => {
  if (window.__bench) return;
  const B = (window.__bench = { key: null, api: [] });
  window.addEventListener('keydown', (e) => { B.key = { key: e.key, t: e.timeStamp }; }, true);
  const fetch0 = window.fetch.bind(window);
  window.fetch = (input, init) => {
    const url = String(input && input.url ? input.url : input);
    const started = performance.now();
    const p = fetch0(input, init);
    if (url.includes('/api/')) {
      const channel = url.slice(url.indexOf('/api/') + 5);
      p.then(() => B.api.push({ channel, started, answered: performance.now() }), () => {});
    }
    return p;
  };
  const nextFrame = () => new Promise((r) => requestAnimationFrame(() => r(performance.now())));
  /** Resolves after the frame that follows now has been produced (rAF, then a task). */
  const afterPaint = () => new Promise((r) => requestAnimationFrame(() => setTimeout(() => r(performance.now()), 0)));
  const waitFor = async (test, timeoutMs, what) => {
    const until = performance.now() + timeoutMs;
    for (;;) {
      const v = test();
      if (v) return v;
      if (performance.now() > until) throw new Error('timed out waiting for ' + what);
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  const grid = () => document.querySelector('[data-testid=thumb-grid]');
  const cellCount = (g) => g.querySelectorAll('[role=gridcell]').length;
  const stats = (g) => {
    const cells = g.querySelectorAll('[role=gridcell]');
    let placeholders = 0;
    for (const c of cells) if (c.getAttribute('aria-busy') === 'true') placeholders++;
    return { cells: cells.length, placeholders };
  };
  const apiAfter = (channel, t) => B.api.find((a) => a.channel === channel && a.started >= t);

  /** Puts the grid at the top, for 'B.scroll' to go down from. */
  B.scrollTop = async () => {
    grid().scrollTop = 0;
    await nextFrame(); await nextFrame();
  };
  /**
   * Scrolls down by 'step' px ('page': one viewport) every animation frame, from where the grid is,
   * for at most 'maxFrames' frames or 'maxMs', stopping at the bottom. Called again to go on.
   */
  B.scroll = async (step, maxFrames, maxMs) => {
    const g = grid();
    const frames = [];
    let maxCells = 0, placeholderSum = 0, cellSum = 0, atEnd = false;
    let last = await nextFrame();
    const t0 = last;
    while (frames.length < maxFrames && last - t0 < maxMs) {
      const before = g.scrollTop;
      g.scrollTop = before + (step === 'page' ? g.clientHeight : step);
      const now = await nextFrame();
      frames.push(now - last);
      last = now;
      const s = stats(g);
      maxCells = Math.max(maxCells, s.cells);
      placeholderSum += s.placeholders; cellSum += s.cells;
      if (g.scrollTop + g.clientHeight >= g.scrollHeight - 1 || g.scrollTop === before) { atEnd = true; break; }
    }
    const cells = g.querySelectorAll('[role=gridcell][data-index]');
    const lastCell = cells[cells.length - 1];
    return {
      frames, wallMs: last - t0, maxCells, placeholderSum, cellSum, atEnd,
      position: g.scrollTop / Math.max(1, g.scrollHeight - g.clientHeight),
      lastIndex: lastCell ? Number(lastCell.dataset.index) : -1,
    };
  };

  /** Jumps to a scroll position; ms until every cell in view holds a loaded thumbnail. */
  B.jump = async (fraction) => {
    const g = grid();
    const t0 = performance.now();
    g.scrollTop = Math.floor(fraction * (g.scrollHeight - g.clientHeight));
    const box = g.getBoundingClientRect();
    const inView = () => [...g.querySelectorAll('[role=gridcell]')].filter((c) => {
      const r = c.getBoundingClientRect();
      return r.bottom > box.top && r.top < box.bottom;
    });
    const tiles = await waitFor(() => { const v = inView(); return v.length > 0 && v.every((c) => c.dataset.imageId) ? performance.now() : 0; }, 30000, 'tiles');
    let images = NaN;
    try {
      images = (await waitFor(() => inView().every((c) => { const i = c.querySelector('img'); return i && i.complete; }) ? performance.now() : 0, 10000, 'thumbnails')) - t0;
    } catch { /* reported as not loaded in 10 s */ }
    const broken = inView().filter((c) => { const i = c.querySelector('img'); return i && i.complete && i.naturalWidth === 0; }).length;
    return { tiles: tiles - t0, images, broken, cells: cellCount(g) };
  };

  /** Call before a focus-view keystroke; 'B.focusDone()' then waits for what it did. */
  B.focusArm = () => {
    const view = document.querySelector('[data-testid=focus-view]');
    const from = view.dataset.imageId;
    const m = (B.focus = { from, dom: 0, shown: 0, image: 0 });
    B.key = null;
    const observer = new MutationObserver(() => {
      if (m.dom || view.dataset.imageId === from) return;
      m.dom = performance.now();
      observer.disconnect();
      afterPaint().then((t) => (m.shown = t));
    });
    observer.observe(view, { attributes: true, attributeFilter: ['data-image-id'] });
    m.observer = observer;
    m.onLoad = (e) => { if (e.target.classList && e.target.classList.contains('focus-image') && m.dom && !m.image) m.image = performance.now(); };
    document.addEventListener('load', m.onLoad, true);
  };
  B.focusDone = async () => {
    const m = B.focus;
    const key = await waitFor(() => B.key, 10000, 'the keydown');
    await waitFor(() => m.shown && apiAfter('labels.set', key.t - 1), 15000, 'the label to show and be stored');
    const img = document.querySelector('.focus-image');
    await waitFor(() => m.image || (img && img.complete && img.naturalWidth > 0 && (m.image = performance.now())), 15000, 'the next image');
    document.removeEventListener('load', m.onLoad, true);
    m.observer.disconnect();
    const stored = apiAfter('labels.set', key.t - 1);
    return { dom: m.dom - key.t, shown: m.shown - key.t, image: m.image - key.t, stored: stored.answered - key.t, from: m.from, to: document.querySelector('[data-testid=focus-view]').dataset.imageId };
  };

  /** Call before a grid keystroke labeling the tiles [first, last] as className. */
  B.rangeArm = (first, last, className) => {
    const g = grid();
    const counter = document.querySelector('[data-testid="class-count-' + className + '"]');
    const m = (B.range = { tiles: 0, shown: 0, counts: 0, countFrom: counter ? counter.textContent : null });
    B.key = null;
    const done = () => {
      const cells = [...g.querySelectorAll('[data-testid=thumb-tile]')].filter((c) => Number(c.dataset.index) >= first && Number(c.dataset.index) <= last);
      return cells.length > 0 && cells.every((c) => c.dataset.class === className);
    };
    const observer = new MutationObserver(() => {
      if (!m.tiles && done()) {
        m.tiles = performance.now();
        afterPaint().then((t) => (m.shown = t));
      }
      const c = document.querySelector('[data-testid="class-count-' + className + '"]');
      if (m.tiles && !m.counts && c && c.textContent !== m.countFrom) m.counts = performance.now();
      if (m.tiles && m.counts) observer.disconnect();
    });
    observer.observe(document.body, { attributes: true, childList: true, subtree: true, characterData: true });
    m.observer = observer;
  };
  B.rangeDone = async () => {
    const m = B.range;
    const key = await waitFor(() => B.key, 10000, 'the keydown');
    await waitFor(() => m.shown && m.counts && apiAfter('labels.set', key.t - 1), 15000, 'the tiles, the counts and the store');
    m.observer.disconnect();
    const stored = apiAfter('labels.set', key.t - 1);
    return { tiles: m.tiles - key.t, shown: m.shown - key.t, stored: stored.answered - key.t, counts: m.counts - key.t };
  };
})();
`;

/** Polls an expression in the page until it is truthy (waitForFunction evaluates strings, which the studio's CSP forbids). */
export async function waitUntil(page: Page, expression: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await page.evaluate(`(() => { try { return !!(${expression}); } catch { return false; } })()`))) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${expression}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface ScrollResult {
  frames: number[];
  wallMs: number;
  maxCells: number;
  placeholderSum: number;
  cellSum: number;
  atEnd: boolean;
  position: number;
  lastIndex: number;
}
/** Scrolls from the top in segments of at most 15 s (so progress shows), for maxFrames or maxMs. */
export async function scrollRun(
  page: Page,
  step: 'page' | number,
  maxFrames: number,
  maxMs: number,
  progress?: (line: string) => void,
): Promise<ScrollResult> {
  await page.evaluate('window.__bench.scrollTop()');
  const total: ScrollResult = { frames: [], wallMs: 0, maxCells: 0, placeholderSum: 0, cellSum: 0, atEnd: false, position: 0, lastIndex: -1 };
  while (!total.atEnd && total.frames.length < maxFrames && total.wallMs < maxMs) {
    const frames = Math.min(maxFrames - total.frames.length, 100_000);
    const part = (await page.evaluate(`window.__bench.scroll(${JSON.stringify(step)}, ${frames}, ${Math.min(15_000, maxMs - total.wallMs)})`)) as ScrollResult;
    total.frames.push(...part.frames);
    total.wallMs += part.wallMs;
    total.maxCells = Math.max(total.maxCells, part.maxCells);
    total.placeholderSum += part.placeholderSum;
    total.cellSum += part.cellSum;
    Object.assign(total, { atEnd: part.atEnd, position: part.position, lastIndex: part.lastIndex });
    if (progress) {
      const median = quantile(part.frames, 0.5);
      progress(`  ${(total.position * 100).toFixed(0)}% (tile ${part.lastIndex}), ${total.frames.length} frames in ${(total.wallMs / 1000).toFixed(0)} s, median frame ${median.toFixed(0)} ms, ${loadLine()}`);
    }
  }
  return total;
}
