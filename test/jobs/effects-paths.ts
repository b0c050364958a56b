// The effectful engine paths the kill test runs as durable jobs, in the runner that dies and in the one that
// takes the job over: a revert (revert PR, pinned merge) and a provisioning (grant, credentials comment), over
// the forge double through GitHubForge. `dieAfter` names a forge method: right after it returns, the process
// kills itself with SIGKILL (the effect done, the job not acked).
import type { Forge } from '../../src/engine/forge.js';
import { noticesFor } from '../../src/engine/notices/index.js';
import { ProvisionMemory, provision } from '../../src/engine/provision.js';
import { revertRequest } from '../../src/engine/revert.js';
import { tokenClient } from '../../src/github/client.js';
import { githubForge } from '../../src/github/forge.js';

export const BOT = 'timebox[bot]';

export interface EffectJob {
  path: 'revert' | 'provision';
  /** `owner/name` on the double. */
  repo: string;
  file: string;
  api: string;
  token: string;
  appId: number;
  /** provision: a mirror holding `tip`, and the orders database. */
  dir?: string;
  tip?: string;
  dbUrl?: string;
}

function dyingAfter(forge: Forge, method: string, said: (m: string) => void): Forge {
  return new Proxy(forge, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const call = value as (...a: unknown[]) => unknown;
      if (prop !== method) return (...args: unknown[]) => call.apply(target, args);
      return async (...args: unknown[]) => {
        await call.apply(target, args);
        said(method);
        process.kill(process.pid, 'SIGKILL');
        return new Promise<never>(() => {});
      };
    },
  });
}

export async function runEffectJob(
  job: EffectJob,
  dieAfter?: string,
  said: (m: string) => void = () => {},
): Promise<void> {
  const [owner = '', repo = ''] = job.repo.split('/');
  const plain = githubForge(tokenClient(job.token, job.api), { owner, repo });
  const forge = dieAfter ? dyingAfter(plain, dieAfter, said) : plain;
  const quiet = { info: () => {}, warn: () => {}, error: () => {} };
  if (job.path === 'revert') {
    await revertRequest(forge, noticesFor(forge, BOT), {
      file: job.file,
      reason: 'expired',
      defaultBranch: 'main',
      botLogin: BOT,
    });
    return;
  }
  await provision({
    forge,
    notices: noticesFor(forge, BOT),
    dir: job.dir ?? '',
    tip: job.tip ?? '',
    now: new Date(),
    env: { TIMEBOX_POSTGRES_ORDERS_URL: job.dbUrl },
    botLogin: BOT,
    appId: job.appId,
    memory: new ProvisionMemory(),
    log: quiet,
  });
}
