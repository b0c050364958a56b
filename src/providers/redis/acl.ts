// What a Redis role can reach, decided without a server (`timebox check` runs offline): Redis's own glob
// matcher for key patterns, and the effect of a role's command rules on the commands that reach Timebox's
// bookkeeping or other ACL users without any key check. Pure: no I/O.

/**
 * Redis's `stringmatchlen` (util.c, Redis 7), case-sensitive as ACL key patterns are: `*` any run, `?` one
 * character, `[...]` a set with ranges (`a-z`, either order) and `^` negation, `\` escaping the next
 * character (also inside a set); an unterminated set ends at the end of the pattern. Compared by UTF-16 code
 * unit, which is Redis's byte comparison for the ASCII that role patterns are limited to.
 */
export function redisGlobMatch(pattern: string, subject: string): boolean {
  return matchFrom(pattern, 0, subject, 0, { skipLonger: false }, 0);
}

function matchFrom(
  p: string,
  pi: number,
  s: string,
  si: number,
  state: { skipLonger: boolean },
  nesting: number,
): boolean {
  // Redis gives up (no match) past 1000 nested stars; role patterns are at most 200 characters.
  if (nesting > 1000) return false;
  while (pi < p.length && si < s.length) {
    const c = p[pi];
    if (c === '*') {
      while (pi + 1 < p.length && p[pi + 1] === '*') pi++;
      if (pi + 1 === p.length) return true;
      while (si < s.length) {
        if (matchFrom(p, pi + 1, s, si, state, nesting + 1)) return true;
        if (state.skipLonger) return false;
        si++;
      }
      state.skipLonger = true;
      return false;
    }
    if (c === '?') {
      si++;
    } else if (c === '[') {
      pi++;
      const not = p[pi] === '^';
      if (not) pi++;
      let match = false;
      for (;;) {
        if (p[pi] === '\\' && p.length - pi >= 2) {
          pi++;
          if (p[pi] === s[si]) match = true;
        } else if (p[pi] === ']') {
          break;
        } else if (pi >= p.length) {
          // Unterminated: Redis steps back so that the step below lands on the end of the pattern.
          pi--;
          break;
        } else if (p.length - pi >= 3 && p[pi + 1] === '-') {
          let start = p.charCodeAt(pi);
          let end = p.charCodeAt(pi + 2);
          if (start > end) [start, end] = [end, start];
          const code = s.charCodeAt(si);
          pi += 2;
          if (code >= start && code <= end) match = true;
        } else if (p[pi] === s[si]) {
          match = true;
        }
        pi++;
      }
      if (not) match = !match;
      if (!match) return false;
      si++;
    } else {
      if (c === '\\' && p.length - pi >= 2) pi++;
      if (p[pi] !== s[si]) return false;
      si++;
    }
    pi++;
    if (si === s.length) {
      while (p[pi] === '*') pi++;
      break;
    }
  }
  return pi >= p.length && si === s.length;
}

/**
 * Commands that act beyond key patterns, by their ACL categories in Redis 7 (`ACL CAT admin`, and the
 * keyspace commands that take no key): every `@admin` command (ACL users, configuration — eviction,
 * `dir` — replication that replaces or copies the whole dataset, modules, DEBUG, MONITOR, other clients,
 * shutdown) and FLUSHALL, FLUSHDB, SWAPDB, which erase or move every key, `timebox:acl` included.
 */
export const OUT_OF_BOUNDS: Readonly<Record<string, readonly string[]>> = {
  'acl|deluser': ['admin', 'dangerous', 'slow'],
  'acl|dryrun': ['admin', 'dangerous', 'slow'],
  'acl|getuser': ['admin', 'dangerous', 'slow'],
  'acl|list': ['admin', 'dangerous', 'slow'],
  'acl|load': ['admin', 'dangerous', 'slow'],
  'acl|log': ['admin', 'dangerous', 'slow'],
  'acl|save': ['admin', 'dangerous', 'slow'],
  'acl|setuser': ['admin', 'dangerous', 'slow'],
  'acl|users': ['admin', 'dangerous', 'slow'],
  bgrewriteaof: ['admin', 'dangerous', 'slow'],
  bgsave: ['admin', 'dangerous', 'slow'],
  'client|kill': ['admin', 'connection', 'dangerous', 'slow'],
  'client|list': ['admin', 'connection', 'dangerous', 'slow'],
  'client|no-evict': ['admin', 'connection', 'dangerous', 'slow'],
  'client|pause': ['admin', 'connection', 'dangerous', 'slow'],
  'client|unblock': ['admin', 'connection', 'dangerous', 'slow'],
  'client|unpause': ['admin', 'connection', 'dangerous', 'slow'],
  'cluster|addslots': ['admin', 'dangerous', 'slow'],
  'cluster|addslotsrange': ['admin', 'dangerous', 'slow'],
  'cluster|bumpepoch': ['admin', 'dangerous', 'slow'],
  'cluster|count-failure-reports': ['admin', 'dangerous', 'slow'],
  'cluster|delslots': ['admin', 'dangerous', 'slow'],
  'cluster|delslotsrange': ['admin', 'dangerous', 'slow'],
  'cluster|failover': ['admin', 'dangerous', 'slow'],
  'cluster|flushslots': ['admin', 'dangerous', 'slow'],
  'cluster|forget': ['admin', 'dangerous', 'slow'],
  'cluster|meet': ['admin', 'dangerous', 'slow'],
  'cluster|replicas': ['admin', 'dangerous', 'slow'],
  'cluster|replicate': ['admin', 'dangerous', 'slow'],
  'cluster|reset': ['admin', 'dangerous', 'slow'],
  'cluster|saveconfig': ['admin', 'dangerous', 'slow'],
  'cluster|set-config-epoch': ['admin', 'dangerous', 'slow'],
  'cluster|setslot': ['admin', 'dangerous', 'slow'],
  'cluster|slaves': ['admin', 'dangerous', 'slow'],
  'config|get': ['admin', 'dangerous', 'slow'],
  'config|resetstat': ['admin', 'dangerous', 'slow'],
  'config|rewrite': ['admin', 'dangerous', 'slow'],
  'config|set': ['admin', 'dangerous', 'slow'],
  debug: ['admin', 'dangerous', 'slow'],
  failover: ['admin', 'dangerous', 'slow'],
  flushall: ['dangerous', 'keyspace', 'slow', 'write'],
  flushdb: ['dangerous', 'keyspace', 'slow', 'write'],
  lastsave: ['admin', 'dangerous', 'fast'],
  'latency|doctor': ['admin', 'dangerous', 'slow'],
  'latency|graph': ['admin', 'dangerous', 'slow'],
  'latency|histogram': ['admin', 'dangerous', 'slow'],
  'latency|history': ['admin', 'dangerous', 'slow'],
  'latency|latest': ['admin', 'dangerous', 'slow'],
  'latency|reset': ['admin', 'dangerous', 'slow'],
  'module|list': ['admin', 'dangerous', 'slow'],
  'module|load': ['admin', 'dangerous', 'slow'],
  'module|loadex': ['admin', 'dangerous', 'slow'],
  'module|unload': ['admin', 'dangerous', 'slow'],
  monitor: ['admin', 'dangerous', 'slow'],
  pfdebug: ['admin', 'dangerous', 'hyperloglog', 'slow', 'write'],
  pfselftest: ['admin', 'dangerous', 'hyperloglog', 'slow'],
  psync: ['admin', 'dangerous', 'slow'],
  replconf: ['admin', 'dangerous', 'slow'],
  replicaof: ['admin', 'dangerous', 'slow'],
  role: ['admin', 'dangerous', 'fast'],
  save: ['admin', 'dangerous', 'slow'],
  shutdown: ['admin', 'dangerous', 'slow'],
  slaveof: ['admin', 'dangerous', 'slow'],
  'slowlog|get': ['admin', 'dangerous', 'slow'],
  'slowlog|len': ['admin', 'dangerous', 'slow'],
  'slowlog|reset': ['admin', 'dangerous', 'slow'],
  swapdb: ['dangerous', 'fast', 'keyspace', 'write'],
  sync: ['admin', 'dangerous', 'slow'],
};

/**
 * Appended after every role's rules at grant time: takes away whatever the check above let through on a
 * server whose categories differ from Redis 7's (`@admin` is the server's own list). A no-op for every role
 * `timebox check` accepts.
 */
export const DENY_AFTER = ['-@admin', '-flushall', '-flushdb', '-swapdb'] as const;

/** Whether one rule (`+@write`, `-flushall`, `+config|get`) adds or removes the command `name` (`cmd|sub`). */
function affects(rule: string, name: string): boolean {
  const body = rule.slice(1);
  if (body.startsWith('@')) {
    const category = body.slice(1);
    return category === 'all' || (OUT_OF_BOUNDS[name]?.includes(category) ?? false);
  }
  const [cmd, arg] = body.split('|');
  const [ncmd, nsub] = name.split('|');
  if (cmd !== ncmd) return false;
  if (arg === undefined) return true;
  // `+debug|sleep` on a command without subcommands allows it with that first argument: that is reach.
  // (Redis refuses `-cmd|arg` for such commands, so a removal never counts.)
  if (nsub === undefined) return rule.startsWith('+');
  return arg === nsub;
}

/**
 * The commands out of bounds that `-@all` followed by `rules` leaves allowed, grouped by the index of the
 * rule that (last) allowed them: Redis applies rules left to right, the last one touching a command wins.
 */
export function outOfBounds(rules: readonly string[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const name of Object.keys(OUT_OF_BOUNDS)) {
    let allowedBy = -1;
    rules.forEach((rule, i) => {
      if (affects(rule, name)) allowedBy = rule.startsWith('+') ? i : -1;
    });
    if (allowedBy >= 0) out.set(allowedBy, [...(out.get(allowedBy) ?? []), name]);
  }
  return out;
}
