// A worker thread of `timebox check` (src/check/parallel.ts), kept by its process for later checks. For each
// check it is told to load the access repo from the working tree (while the main thread loads it too), then
// given the job: it claims chunks of request files from the shared counter and posts each chunk's decisions
// back, then 'done'.
import { parentPort } from 'node:worker_threads';
import { type AccessRepo, loadAccessRepo } from '../repo/access-repo.js';
import { workingTree } from '../repo/source.js';
import { chunkCount, decideChunk } from './chunks.js';
import type { WorkerMessage } from './parallel.js';

const port = parentPort;
if (!port) throw new Error('src/check/worker.ts runs only as a worker thread');
let loading: Promise<AccessRepo> | null = null;
let next: SharedArrayBuffer | null = null;
port.on('message', async (m: WorkerMessage) => {
  if (m.type === 'load') {
    loading = loadAccessRepo(workingTree(m.root));
    // A failure is the job's to report (a check stopped before its job never asks).
    loading.catch(() => {});
    next = m.next;
    return;
  }
  if (!loading || !next) throw new Error('check: a worker thread was given a job before its access repo');
  const repo = await loading;
  if (repo.errors.length > 0) {
    throw new Error(
      `the access repo's configuration changed while it was checked (${repo.errors.length} error(s))`,
    );
  }
  const counter = new Int32Array(next);
  const chunks = chunkCount(m.job);
  for (let c = Atomics.add(counter, 0, 1); c < chunks; c = Atomics.add(counter, 0, 1)) {
    port.postMessage(decideChunk(m.job, repo, c));
  }
  loading = null;
  next = null;
  port.postMessage('done');
});
