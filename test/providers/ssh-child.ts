// A second process for the ssh provider's tests (`node --import tsx test/providers/ssh-child.ts <mode> …`,
// started with `startChild`): the KRL and its registry are shared by processes, so their tests need real
// ones. It reports `ready` over IPC, waits for `go`, does its part and exits 0 (1 with the error on stderr).
//
//   revoke <file>…            revoke each request file's certificates (env: TIMEBOX_SSH_PROD_CA_KEY, _KRL)
//   count <lock> <file> <n>   n times, holding <lock>: read the number in <file>, yield, write it plus one
//   hold <lock>               take <lock>, report `held`, and wait to be killed
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ssh } from '../../src/providers/ssh/index.js';
import { withLock } from '../../src/providers/ssh/lock.js';

const ROOT = join(import.meta.dirname, '..', '..');

export interface Child {
  pid: number;
  /** Resolves when the child sends `message` (registered at once, so none is missed). */
  said(message: string): Promise<void>;
  go(): void;
  exit: Promise<number | null>;
  stderr(): string;
}

/** Starts this script in its own process group (`detached`: the test can kill it with its children). */
export function startChild(mode: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const p = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), mode, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    detached: true,
  });
  let stderr = '';
  p.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const heard = new Set<string>();
  const waiting = new Map<string, () => void>();
  p.on('message', (m: string) => {
    heard.add(m);
    waiting.get(m)?.();
  });
  return {
    pid: p.pid as number,
    said: (m) => (heard.has(m) ? Promise.resolve() : new Promise((r) => waiting.set(m, r))),
    go: () => p.send('go'),
    exit: new Promise((r) => p.on('exit', (code) => r(code))),
    stderr: () => stderr,
  };
}

const [mode, ...args] = process.argv.slice(2);
const send = (m: string) => new Promise<void>((r) => process.send?.(m, () => r()));
const go = () => new Promise<void>((r) => process.once('message', () => r()));

async function main() {
  // Orphaned (the test process ended): stop, whatever this process was waiting for.
  process.on('disconnect', () => process.exit(1));
  if (mode === 'revoke') {
    const target = await ssh.connect({ ca: 'prod' }, process.env as Record<string, string>);
    await send('ready');
    await go();
    for (const file of args) {
      const access = (await target.list()).find((a) => a.file === file);
      if (!access) throw new Error(`${file} is not listed`);
      await target.revoke(access);
    }
    await target.close();
  } else if (mode === 'count') {
    const [lock, file, n] = args as [string, string, string];
    await send('ready');
    await go();
    for (let i = 0; i < Number(n); i++)
      await withLock(lock, async () => {
        const value = Number(await readFile(file, 'utf8'));
        await new Promise((r) => setImmediate(r));
        await writeFile(file, String(value + 1));
      });
  } else if (mode === 'hold') {
    await withLock(args[0] as string, async () => {
      await send('held');
      setInterval(() => undefined, 60_000);
      await new Promise(() => undefined);
    });
  } else throw new Error(`unknown mode ${mode}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url))
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
