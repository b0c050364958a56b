// `timebox check` of many request files on every core: the main thread and worker threads claim chunks of
// files from one shared counter (whoever is free takes the next), and the decisions are put back in the
// order of the files, so the output is the same, byte for byte, whichever thread decided what. A worker
// that fails (an exception, an exit) fails the check with an error that says so; nothing waits forever.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Decision, Status } from '../core/model.js';
import type { AccessRepo } from '../repo/access-repo.js';
import { type ChunkResult, chunkCount, decideChunk, type FilesJob, type ReadFailure } from './chunks.js';

export type ParallelOutcome =
  | { ok: true; decisions: Decision[]; rendered: string[] | null; statuses: Status[] }
  | { ok: false; failure: ReadFailure };

// Under tsx or vitest this file is TypeScript: the worker is too (see `startWorker`).
const WORKER = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);

/**
 * A worker's young generation, where the parser's short-lived objects are made. With V8's default (16 MiB
 * semi-spaces) it is collected so often beside the main thread that two threads decided little faster than
 * one: on 10,000 files, 1.41x the parse floor with a worker, 1.56x without; with this, 1.22-1.30x.
 */
const YOUNG = { maxYoungGenerationSizeMb: 96 };

/**
 * A worker thread running `url`. A TypeScript worker (src/ under tsx or vitest, never dist/) is started by a
 * line of JavaScript that registers tsx's loader in the worker first: a worker does not inherit the loader
 * hooks of its parent, nor can `--import tsx` in its `execArgv` register them (Node 20).
 */
function startWorker(url: URL): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { resourceLimits: YOUNG });
  const require = createRequire(import.meta.url);
  const tsx = require('tsx/package.json') as { exports: Record<string, { import: { default: string } }> };
  const api = new URL(
    tsx.exports['./esm/api']?.import.default ?? '',
    pathToFileURL(require.resolve('tsx/package.json')),
  );
  const boot = `import(${JSON.stringify(api.href)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(boot, { eval: true, resourceLimits: YOUNG });
}

/**
 * Worker threads that finished a check, kept for the next one in this process (by worker script), unref'd so
 * that they never keep the process alive. A CLI run checks once and exits; a process that checks again (a
 * benchmark, a test, an editor integration) runs its later checks on threads whose code is as warm as the
 * main thread's. Each check still loads its own access repo on every thread.
 */
const idle = new Map<string, Worker[]>();

function takeWorker(url: URL): Worker {
  const w = idle.get(url.href)?.pop();
  if (!w) return startWorker(url);
  w.off('exit', forget);
  w.ref();
  return w;
}

function keepWorker(url: URL, w: Worker): void {
  w.unref();
  w.once('exit', forget);
  idle.set(url.href, [...(idle.get(url.href) ?? []), w]);
}

/** The kept workers of the default worker script (tests). */
export const keptWorkers = (url: URL = WORKER): readonly Worker[] => idle.get(url.href) ?? [];

/** A kept worker that ended (it should not) is not handed out again. */
function forget(this: Worker): void {
  for (const [href, list] of idle)
    idle.set(
      href,
      list.filter((w) => w !== this),
    );
}

/** What a pooled worker is told: load the access repo at `root` (and share `next`), then decide `job`. */
export type WorkerMessage =
  | { type: 'load'; root: string; next: SharedArrayBuffer }
  | { type: 'job'; job: FilesJob };

/**
 * Worker threads of one `check`, told to load the access repo before the main thread loads it, so that they
 * load it at the same time on the other cores; `run` then hands them the job. `stop` ends threads never
 * given one.
 */
export class CheckThreads {
  private readonly next = new SharedArrayBuffer(4);
  private readonly threads: Worker[];
  private results: ChunkResult[] = [];
  private readonly finished: Promise<void>[];
  private stopped = false;

  private constructor(root: string, workerUrl: URL, workers: number) {
    this.threads = Array.from({ length: workers }, () => takeWorker(workerUrl));
    this.finished = this.threads.map(
      (w, i) =>
        new Promise<void>((resolve, reject) => {
          const off = () => {
            w.off('message', onMessage);
            w.off('error', onError);
            w.off('exit', onExit);
          };
          const onMessage = (m: ChunkResult | 'done') => {
            if (m !== 'done') {
              this.results[m.chunk] = m;
              return;
            }
            off();
            keepWorker(workerUrl, w);
            resolve();
          };
          const onError = (err: Error) => {
            off();
            reject(
              new Error(`check: worker thread ${i + 1} of ${workers} failed: ${err.message}`, { cause: err }),
            );
          };
          const onExit = (code: number) => {
            off();
            if (this.stopped) resolve();
            else
              reject(
                new Error(
                  `check: worker thread ${i + 1} of ${workers} stopped (exit code ${code}) before its files were decided`,
                ),
              );
          };
          w.on('message', onMessage);
          w.on('error', onError);
          w.on('exit', onExit);
        }),
    );
    // A failure is reported by `run`; threads stopped unused report nothing.
    for (const f of this.finished) f.catch(() => {});
    const load: WorkerMessage = { type: 'load', root, next: this.next };
    for (const w of this.threads) w.postMessage(load);
  }

  /** Starts `workers` threads that load the access repo at `root`; `workerUrl` is for tests. */
  static start(
    root: string,
    workers: number,
    { workerUrl = WORKER }: { workerUrl?: URL } = {},
  ): CheckThreads {
    return new CheckThreads(root, workerUrl, workers);
  }

  get size(): number {
    return this.threads.length;
  }

  /** Ends the threads without their results (the check needed none, or failed before `run`). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.threads.map((w) => w.terminate()));
  }

  /**
   * Decides every file of `job` with these threads and, unless `mainThread` is false (tests: the workers
   * decide every file, so that a test sees their decisions for certain), the main thread. `repo` is the
   * access repo the main thread loaded from `job.root`.
   */
  async run(job: FilesJob, repo: AccessRepo, { mainThread = true } = {}): Promise<ParallelOutcome> {
    const chunks = chunkCount(job);
    const counter = new Int32Array(this.next);
    this.results = new Array(chunks);
    const message: WorkerMessage = { type: 'job', job };
    for (const w of this.threads) w.postMessage(message);
    // The first failure is the answer; the other workers are stopped rather than left running.
    const all = Promise.all(this.finished).catch(async (err: unknown) => {
      await this.stop();
      throw err;
    });
    try {
      if (mainThread) {
        for (let c = Atomics.add(counter, 0, 1); c < chunks; c = Atomics.add(counter, 0, 1)) {
          this.results[c] = decideChunk(job, repo, c);
        }
      }
    } catch (err) {
      // Stop the workers before reporting the main thread's own failure.
      Atomics.store(counter, 0, chunks);
      await Promise.allSettled([all]);
      throw err;
    }
    await all;
    const decisions: Decision[] = [];
    const statuses: Status[] = [];
    const rendered: string[] = [];
    for (const r of this.results) {
      if (!r) throw new Error('check: a chunk of request files was never decided');
      if (r.failure) return { ok: false, failure: r.failure };
      decisions.push(...r.decisions);
      statuses.push(...r.statuses);
      if (r.rendered !== null) rendered.push(r.rendered);
    }
    return { ok: true, decisions, statuses, rendered: job.render ? rendered : null };
  }
}

/**
 * Decides every file of `job` with `workers` worker threads beside the main thread (see `CheckThreads`).
 */
export async function decideInParallel(
  job: FilesJob,
  repo: AccessRepo,
  workers: number,
  { workerUrl = WORKER, mainThread = true }: { workerUrl?: URL; mainThread?: boolean } = {},
): Promise<ParallelOutcome> {
  return CheckThreads.start(job.root, workers, { workerUrl }).run(job, repo, { mainThread });
}
