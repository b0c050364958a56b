// KeyedRunner.idle: what a replica's revocation job waits for before it ends (src/engine/keeper.ts revokeDue): the
// revert PR it queued, in the run under way or the follow-up one. A job that ended earlier would leave the revert
// in the memory of a replica that may be killed next (the long chaos run: reverts minutes late).
import { expect, it } from 'vitest';
import { KeyedRunner } from '../../src/engine/runner.js';

function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

it('idle waits for the run under way and the follow-up queued behind it, failed or not', async () => {
  const runner = new KeyedRunner();
  const first = gate();
  const second = gate();
  const done: string[] = [];
  void runner.run('acme/access', async () => {
    await first.opened;
    done.push('first');
  });
  void runner
    .run('acme/access', async () => {
      await second.opened;
      done.push('second');
      throw new Error('the revert failed');
    })
    .catch(() => undefined);
  let idle = false;
  const waiting = runner.idle('acme/access').then(() => {
    idle = true;
  });
  await runner.idle('other/repo'); // nothing runs for another key
  first.open();
  await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
  expect([done, idle]).toEqual([['first'], false]);
  second.open();
  await waiting;
  expect([done, idle]).toEqual([['first', 'second'], true]);
});
