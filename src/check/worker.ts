// A worker thread of `timebox check` (src/check/parallel.ts): loads the access repo from the working tree as
// soon as it starts (while the main thread loads it too), then waits for the job, claims chunks of request
// files from the shared counter and posts each chunk's decisions back.
import { parentPort, workerData } from 'node:worker_threads';
import { loadAccessRepo } from '../repo/access-repo.js';
import { workingTree } from '../repo/source.js';
import { chunkCount, decideChunk, type FilesJob } from './chunks.js';

export interface WorkerData {
  /** The access repo's working tree. */
  root: string;
  /** One Int32: the next chunk to claim, shared by every thread of this check. */
  next: SharedArrayBuffer;
}

const { root, next } = workerData as WorkerData;
const port = parentPort;
if (!port) throw new Error('src/check/worker.ts runs only as a worker thread');
const loading = loadAccessRepo(workingTree(root));
port.once('message', async (job: FilesJob) => {
  const repo = await loading;
  if (repo.errors.length > 0) {
    throw new Error(
      `the access repo's configuration changed while it was checked (${repo.errors.length} error(s))`,
    );
  }
  const counter = new Int32Array(next);
  const chunks = chunkCount(job);
  for (let c = Atomics.add(counter, 0, 1); c < chunks; c = Atomics.add(counter, 0, 1)) {
    port.postMessage(decideChunk(job, repo, c));
  }
  port.postMessage('done');
  port.close();
});
