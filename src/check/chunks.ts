// The unit of work `timebox check` shares between threads: a chunk of request files of the working tree,
// read and decided. The main thread and every worker run the same code on the same inputs, so a file's
// decision does not depend on which thread decided it.
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { decisionLines, jsonItems } from '../cli/format.js';
import { decideAll } from '../core/decide.js';
import type { ChangedRequestFile, Decision, PullFacts, Status } from '../core/model.js';
import type { AccessRepo } from '../repo/access-repo.js';

/** Files per chunk: small enough to share the work evenly, large enough that claiming one costs nothing. */
export const CHUNK_FILES = 64;

/** From this many files on, `check` uses worker threads: below it, starting one costs more than it saves. */
export const PARALLEL_FROM = 400;

/**
 * Worker threads for `files` request files on this machine: one per other idle core, none for a small set.
 * A worker loads the modules and the policies again and runs cold (unoptimised) code, about half a second
 * of CPU: on a machine whose cores are busy it gets no core of its own and only slows the check down
 * (measured: 1.9x the floor alone, 2.9x with one worker). `load` is the one-minute load average; the part
 * of it this process caused itself (a long-running caller such as a benchmark) is not someone else's.
 */
export function workersFor(files: number, load = loadavg()[0] ?? 0, own = ownLoad()): number {
  if (files < PARALLEL_FROM) return 0;
  const others = Math.max(0, load - own);
  const idle = Math.round(availableParallelism() - 1 - others);
  return Math.max(0, Math.min(idle, Math.floor(files / PARALLEL_FROM), 7));
}

/** Roughly what this process adds to the one-minute load average: its CPU time over the last minute, at most 1. */
function ownLoad(): number {
  const { user, system } = process.cpuUsage();
  return Math.min(1, (user + system) / 60e6);
}

/** What every thread needs to decide any chunk: plain data, cloned into each worker. */
export interface FilesJob {
  /** The access repo's working tree: each worker loads its policies from it itself. */
  root: string;
  /** Repository paths of the request files, in the order of the output. */
  paths: string[];
  changedPaths: string[];
  pull: PullFacts;
  /** The time decided at, in ms (a Date is cloned as one, but a number says it is all that is needed). */
  atMs: number;
  /**
   * When set, each thread writes its chunks' part of the output itself and sends that text and the
   * statuses back instead of the decisions: cloning thousands of decisions to the main thread and writing
   * all of them there would be the main thread's work alone, after the others are done.
   */
  render?: { json: boolean; color: boolean };
}

/** A file that could not be read: where it is in the list, and the error `check` reports for it. */
export interface ReadFailure {
  index: number;
  path: string;
  code: string;
}

export interface ChunkResult {
  chunk: number;
  /** The chunk's decisions; empty when the job says to render them (`rendered`). */
  decisions: Decision[];
  /** The chunk's part of the output, when the job says to render it. */
  rendered: string | null;
  statuses: Status[];
  failure: ReadFailure | null;
}

export const chunkCount = (job: FilesJob): number => Math.ceil(job.paths.length / CHUNK_FILES);

/** Reads one request file as `check` does: synchronously, since thousands of awaited small reads are slower. */
export function readRequestFile(root: string, path: string): ChangedRequestFile | { code: string } {
  try {
    return { path, status: 'added', content: readFileSync(resolve(root, path), 'utf8') };
  } catch (err) {
    return { code: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
}

/** Reads and decides chunk `chunk` of `job`; the first file that cannot be read stops the chunk. */
export function decideChunk(job: FilesJob, repo: AccessRepo, chunk: number): ChunkResult {
  const from = chunk * CHUNK_FILES;
  const files: ChangedRequestFile[] = [];
  for (let i = from; i < Math.min(from + CHUNK_FILES, job.paths.length); i++) {
    const path = job.paths[i] as string;
    const read = readRequestFile(job.root, path);
    if ('code' in read)
      return {
        chunk,
        decisions: [],
        rendered: null,
        statuses: [],
        failure: { index: i, path, code: read.code },
      };
    files.push(read);
  }
  const decisions = decideAll({
    files,
    changedPaths: job.changedPaths,
    pull: job.pull,
    policies: repo.policies,
    codeowners: repo.codeowners,
    config: repo.config,
    at: new Date(job.atMs),
  });
  const statuses = decisions.map((d) => d.status);
  const how = job.render;
  if (!how) return { chunk, decisions, rendered: null, statuses, failure: null };
  const rendered = how.json ? jsonItems(decisions) : decisionLines(decisions, how);
  return { chunk, decisions: [], rendered, statuses, failure: null };
}
