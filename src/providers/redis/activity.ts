// What Redis can honestly tell about what an ACL user did, read at revocation before the user is deleted.
// Redis keeps no per-user command history or counts (INFO commandstats is server-wide), so this is:
// - the user's connections still open, each with the last command it ran (`CLIENT LIST`: `cmd=`);
// - the commands, keys and channels the ACL refused it (`ACL LOG`: reason, object, count), which Redis
//   keeps for the last `acllog-max-len` refusals of all users (128 by default).
// The summary says these limits rather than suggest that nothing else was done.
import type { Activity } from '../types.js';

/** Longest key or channel name kept from a refusal: the audit needs the shape, not a megabyte of name. */
const MAX_OBJECT = 80;

export interface RedisActivityInput {
  /** `CLIENT LIST` as Redis prints it. */
  clientList: string;
  /** `ACL LOG` as RESP arrays of field, value, field, value … */
  aclLog: unknown[];
}

/** Reads `user`'s activity from the two replies (pure: tests feed it hostile text). */
export function redisActivity(user: string, input: RedisActivityInput): Activity {
  const last = new Map<string, number>();
  let open = 0;
  for (const line of input.clientList.split('\n')) {
    const fields = new Map(
      line
        .trim()
        .split(' ')
        .map((kv) => {
          const eq = kv.indexOf('=');
          return [kv.slice(0, eq), kv.slice(eq + 1)] as const;
        }),
    );
    if (fields.get('user') !== user) continue;
    open++;
    const cmd = fields.get('cmd') ?? '';
    // A connection that only authenticated shows `auth` (or `NULL` on old servers): not a command it ran.
    if (cmd && cmd !== 'NULL' && cmd !== 'auth' && cmd !== 'hello') last.set(cmd, (last.get(cmd) ?? 0) + 1);
  }
  const denied = new Map<string, number>();
  for (const entry of input.aclLog) {
    if (!Array.isArray(entry)) continue;
    const f = new Map<string, unknown>();
    for (let i = 0; i + 1 < entry.length; i += 2) f.set(String(entry[i]), entry[i + 1]);
    if (String(f.get('username') ?? '') !== user) continue;
    const reason = String(f.get('reason') ?? '');
    const object = String(f.get('object') ?? '').slice(0, MAX_OBJECT);
    const what =
      reason === 'command'
        ? `command ${object}`
        : reason === 'auth'
          ? 'authentication'
          : `${reason} ${object}`;
    denied.set(what, (denied.get(what) ?? 0) + Number(f.get('count') ?? 1));
  }
  const statements: Activity['statements'] = [
    ...[...last].map(([cmd, n]) => ({ query: `last command: ${cmd}`, calls: n, rows: 0 })),
    ...[...denied].map(([what, n]) => ({ query: `denied: ${what}`, calls: n, rows: 0 })),
  ];
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  const lastText = last.size > 0 ? ` (last commands: ${[...last.keys()].sort().join(', ')})` : '';
  const refused = [...denied.values()].reduce((a, b) => a + b, 0);
  const refusedText =
    refused > 0
      ? ` (${[...denied.keys()].sort().slice(0, 5).join(', ')}${denied.size > 5 ? ', …' : ''})`
      : '';
  return {
    summary:
      `${plural(open, 'connection')} open at revocation${lastText}, ` +
      `${plural(refused, 'refusal')} in ACL LOG${refusedText}; Redis keeps no per-user command counts`,
    statements,
  };
}
