// Helpers shared by the benchmarks (bench/check.ts, bench/ledger.ts, bench/apply.ts): option parsing, seeded
// generation, temporary directories, measuring (peak RSS, GC, timing, medians) and printing the figures.
// Only node: modules and types here, so that `bench/check.ts --dist` loads no module of src/ through it.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Io } from '../src/cli/context.js';
import { systemClock } from '../src/core/clock.js';

// --- options -------------------------------------------------------------------------------------------

/** Prints the usage text of `--help` and exits 0. */
export function exitWithUsage(usage: string): never {
  process.stdout.write(usage);
  process.exit(0);
}

/** The value of `--name` as a whole number of at least `min`. */
export function wholeNumber(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number >= ${min}`);
  return n;
}

// --- generating ----------------------------------------------------------------------------------------

/** mulberry32: a small seeded generator, so every run generates the same data. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks one element of a list with `rand`. */
export const picker =
  (rand: () => number) =>
  <T>(list: readonly T[]): T =>
    list[Math.floor(rand() * list.length)] as T;

/** A request file with `fields` in order, then `extra` (raw YAML lines, if any). */
export function requestYaml(fields: Record<string, string>, extra = ''): string {
  const body = Object.entries(fields)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
  return `# yaml-language-server: $schema=../../schemas/request.schema.json\n${body}\n${extra}`;
}

// --- files ---------------------------------------------------------------------------------------------

/** A fresh directory `<tmpdir>/<prefix>XXXXXX`. */
export const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), prefix));

/** Removes a directory and everything below it; nothing if it is not there. */
export const removeDir = (path: string): void => rmSync(path, { recursive: true, force: true });

/** Writes `text` to `root/path`, making the directories it needs. */
export function writeInto(root: string, path: string, text: string): void {
  const abs = join(root, path);
  mkdirSync(dirname(abs), { recursive: true });
  writeFileSync(abs, text);
}

// --- measuring -----------------------------------------------------------------------------------------

let peak = 0;

/** Notes the current RSS if it is the largest so far. */
function sampleRss(): void {
  const rss = process.memoryUsage.rss();
  if (rss > peak) peak = rss;
}

/** The largest RSS sampled since the start or the last `resetPeakRss()`. */
export const peakRss = (): number => peak;

export function resetPeakRss(): void {
  peak = 0;
}

/** The kernel's peak RSS of the whole process, in bytes. */
export const maxRss = (): number => process.resourceUsage().maxRSS * 1024;

/** Samples the RSS every 5 ms until the returned function is called; `unref` lets the process exit anyway. */
export function startRssSampler(unref: boolean): () => void {
  const sampler = setInterval(sampleRss, 5);
  if (unref) sampler.unref();
  return () => clearInterval(sampler);
}

/** A full GC before each measurement when one can be had, so one phase's garbage is not billed to the next. */
export function collector(): () => void {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    return () => gc();
  } catch {
    return () => {};
  }
}

/** An `Io` that collects what the command writes, for running CLI commands in-process. */
export function collectingIo(root: string): Io & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    color: false,
    isTTY: false,
    cwd: root,
    clock: systemClock,
    env: {},
  };
}

/** Runs `fn` once, sampling the RSS around it; its wall time in ms and its value. */
export async function timed<T>(fn: () => T | Promise<T>): Promise<{ ms: number; value: T }> {
  sampleRss();
  const start = performance.now();
  const value = await fn();
  const ms = performance.now() - start;
  sampleRss();
  return { ms, value };
}

/**
 * The `measure` of round `round` (0 is the warm-up): a GC, then `fn` timed; the time goes into `list` in
 * measured rounds only.
 */
export function measurer(gc: () => void, round: number) {
  return async <T>(list: number[], fn: () => T | Promise<T>): Promise<T> => {
    gc();
    const { ms, value } = await timed(fn);
    if (round > 0) list.push(ms);
    return value;
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The median of every list of times. */
export function medians<K extends string>(times: Record<K, number[]>): Record<K, number> {
  return Object.fromEntries(Object.entries<number[]>(times).map(([k, v]) => [k, median(v)])) as Record<
    K,
    number
  >;
}

// --- printing ------------------------------------------------------------------------------------------

/** One line to stdout. */
export const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

export const mib = (bytes: number, digits = 1): string => `${(bytes / 1024 / 1024).toFixed(digits)} MiB`;

/** The p-th percentile (nearest rank) of an ascending list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

/** Every value of the measured rounds, in whole ms, for the `all rounds` line. */
export const roundsList = (xs: number[]): string => xs.map((n) => n.toFixed(0)).join(' ');

/** The first lines of a report: the benchmark, node, the platform and the CPU. */
export function printMachine(name: string): void {
  out(`timebox ${name} benchmark: node ${process.version}, ${process.platform}/${process.arch}`);
  out(`cpu: ${cpus()[0]?.model.trim() ?? 'unknown'}, ${availableParallelism()} available`);
}

export function printRoundsPlan(rounds: number): void {
  out(`rounds: 1 warm-up + ${rounds} measured, alternating; medians reported`);
}

/** Progress on stderr after round `round` (0 is the warm-up). */
export function roundDone(round: number): void {
  process.stderr.write(`round ${round === 0 ? 'warm-up' : round} done\n`);
}

/** A row of the figures table: what, the figure, notes. */
export type Row = [string, string, string];

/** The rows of the two peak-RSS figures that end a table. */
export const peakRssRows = (): Row[] => [
  ['peak RSS (sampled)', mib(peakRss()), ''],
  ['peak RSS (resourceUsage maxRSS)', mib(maxRss()), ''],
];

/** The figures table: the first column padded to the right, the second right-aligned. */
export function printTable(rows: Row[]): void {
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  for (const [a, b, c] of rows) out(`${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`.trimEnd());
}

// --- peak RSS in a fresh process -----------------------------------------------------------------------

/** What a measuring child reports (one JSON line on stdout): its own peak RSS, not its parent's. */
export interface ChildFigures {
  /** The kernel's peak RSS of the child (`process.resourceUsage().maxRSS`), in bytes. */
  maxRss: number;
  ms: number;
  /** Whatever else the child wants to tell (exit code, bytes written). */
  [key: string]: number;
}

/** In the child: report `figures` with the process's peak RSS, for `inChild` to read. */
export function reportFromChild(figures: Record<string, number>): void {
  process.stdout.write(`${JSON.stringify({ ...figures, maxRss: maxRss() })}\n`);
}

/**
 * Runs `script args…` in a fresh node with this process's flags (`--import tsx` included) and returns what
 * it reported with `reportFromChild`. A fresh process per measurement: peaks of earlier phases (or of the
 * benchmark itself) are not inherited, as `/usr/bin/time -v` would measure the command alone.
 */
export function inChild(script: string, args: string[]): Promise<ChildFigures> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = Buffer.concat(out).toString('utf8').trim().split('\n');
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolvePromise(JSON.parse(lines[lines.length - 1] as string) as ChildFigures);
      } catch (e) {
        reject(
          new Error(
            `measuring child ${args.join(' ')} failed (${(e as Error).message}): ${Buffer.concat(err).toString('utf8').trim()}`,
          ),
        );
      }
    });
  });
}

// --- CPU of processes (Linux /proc) -------------------------------------------------------------------------

/** /proc counts CPU in clock ticks of 1/100 s (USER_HZ). */
const TICK_MS = 10;

/**
 * CPU milliseconds (user + system) a process has used: `self`, and `children`, the ones of its children it has
 * waited for (git subprocesses, once they exit). Undefined when the process is gone or /proc is not there.
 */
export function processCpu(pid: number): { self: number; children: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      self: (Number(f[11]) + Number(f[12])) * TICK_MS,
      children: (Number(f[13]) + Number(f[14])) * TICK_MS,
    };
  } catch {
    return undefined;
  }
}

/** The pids whose command line (arguments joined by spaces) passes `test`. */
export function pidsWhere(test: (cmdline: string) => boolean): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (test(cmdline)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The whole machine's CPU milliseconds so far, all cores together, busy and idle (/proc/stat). */
export function machineCpu(): { busy: number; idle: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    const busy = [user, nice, system, irq, softirq, steal].reduce<number>((s, v) => s + (v ?? 0), 0);
    return { busy: busy * TICK_MS, idle: ((idle ?? 0) + (iowait ?? 0)) * TICK_MS };
  } catch {
    return { busy: 0, idle: 0 };
  }
}

/**
 * How long a process's main thread has run on a CPU and waited for one while runnable, in ms
 * (/proc/<pid>/schedstat): waiting is what a busy machine costs it. Undefined without schedstats.
 */
export function mainThreadSched(pid: number): { runMs: number; waitMs: number } | undefined {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    return { runMs: (run ?? 0) / 1e6, waitMs: (wait ?? 0) / 1e6 };
  } catch {
    return undefined;
  }
}
