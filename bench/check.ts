// `npm run bench`: how much slower is `timebox check` than merely parsing the same request files?
// Generates a realistic access repo in a temporary directory, then times, in one process and alternating:
//   (A) floor  - list the request files, read them, `YAML.parse` each (the least any checker must do);
//   (B) check  - exactly what `timebox check` does (`runCheck`, with JSON and with human output), with the
//                worker threads it starts for many files (src/check/parallel.ts), and (B1) without them;
//   (C) policy - loading timebox.yaml, the policies and CODEOWNERS alone (`check` does it once per run);
// and the same work on files already in memory, to separate file I/O from computation.
// Goal: (B) / (A) <= 1.5. A missed goal is reported, never an exit code: benchmarks run on demand.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import type * as chunksModule from '../src/check/chunks.js';
import type * as checkModule from '../src/cli/check.js';
import type * as contextModule from '../src/cli/context.js';
import type * as decideModule from '../src/core/decide.js';
import type { ChangedRequestFile } from '../src/core/model.js';
import type * as accessRepoModule from '../src/repo/access-repo.js';
import type * as sourceModule from '../src/repo/source.js';
import * as lib from './lib.js';

const GOAL = 1.5;
/** A Tuesday morning in Europe, so that office-hours rules both pass and fail depending on their zone. */
const AT = '2026-12-01T09:00:00Z';
const SERVICES = [
  'orders',
  'billing',
  'customers',
  'payments',
  'search',
  'inventory',
  'shipping',
  'reports',
  'auth',
  'events',
];
const ZONES = [
  'Europe/Berlin',
  'America/New_York',
  'Asia/Tokyo',
  'Europe/London',
  'America/Los_Angeles',
  'Australia/Sydney',
  'America/Sao_Paulo',
  'Asia/Kolkata',
];
/** Wednesday 2026-12-02 10:00 local time in each zone of ZONES, as UTC: inside every 08:00-18:00 rule. */
const OFFICE_START: Record<string, string> = {
  'Europe/Berlin': '2026-12-02T09:00:00Z',
  'America/New_York': '2026-12-02T15:00:00Z',
  'Asia/Tokyo': '2026-12-02T01:00:00Z',
  'Europe/London': '2026-12-02T10:00:00Z',
  'America/Los_Angeles': '2026-12-02T18:00:00Z',
  'Australia/Sydney': '2026-12-01T23:00:00Z',
  'America/Sao_Paulo': '2026-12-02T13:00:00Z',
  'Asia/Kolkata': '2026-12-02T04:30:00Z',
};
const DEVS_PER_TEAM = 10;
const SERVICES_PER_TEAM = SERVICES.length;
const POLICY_FILES = 10;

export interface BenchOptions {
  files: number;
  rules: number;
  rounds: number;
  keep: boolean;
  dist: boolean;
  /** Worker threads for the (B) rows; undefined: as many as `timebox check` chooses on this machine. */
  workers: number | undefined;
}

export function readOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      files: { type: 'string', default: '10000' },
      rules: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '5' },
      keep: { type: 'boolean', default: false },
      dist: { type: 'boolean', default: false },
      workers: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    lib.exitWithUsage(
      'usage: npm run bench -- [--files N] [--rules N] [--rounds N] [--keep] [--dist] [--workers N]\n' +
        '  --files   request files to generate (default 10000)\n' +
        '  --rules   policy rules to generate (default 1000; resources = rules / 5)\n' +
        '  --rounds  measured rounds after one warm-up round (default 5; the median is reported)\n' +
        '  --keep    keep the generated repo and print its path\n' +
        '  --dist    measure the compiled dist/ (run `npm run build` first) instead of src/ through tsx\n' +
        '  --workers worker threads for check (default: what timebox check picks for this machine now)\n',
    );
  }
  return {
    files: lib.wholeNumber('files', values.files, 1),
    rules: lib.wholeNumber('rules', values.rules, 20),
    rounds: lib.wholeNumber('rounds', values.rounds, 1),
    keep: values.keep,
    dist: values.dist,
    workers: values.workers === undefined ? undefined : lib.wholeNumber('workers', values.workers, 0),
  };
}

// --- generating the access repo ------------------------------------------------------------------------

export interface GeneratedRepo {
  root: string;
  teamsFile: string;
  approvedBy: string;
  teams: number;
  resources: number;
  rules: number;
  requestFiles: number;
  codeownersPatterns: number;
  /** Requests written to be invalid or denied, by intent (the decision may add more). */
  intended: { invalid: number; denied: number };
  bytes: number;
}

/** The service rule `k` of team `t` is about; rules of one kind cycle through different services. */
const svcOf = (t: number, k: number) =>
  SERVICES[(t + k + 3 * Math.floor(k / 10)) % SERVICES_PER_TEAM] as string;
const dev = (t: number, i: number) => `t${t}-dev${i}`;
const lead = (t: number) => `t${t}-lead`;
const zoneOf = (t: number) => ZONES[t % ZONES.length] as string;
/** Every fifth service of a team also offers a `migrate` role. */
const hasMigrate = (svcIndex: number) => svcIndex % 5 === 0;

function resourceYaml(t: number, s: number): string {
  const svc = SERVICES[s] as string;
  const id = `team${t}-${svc}-db`;
  const conn = `team${t}_${svc}`;
  return [
    `  ${id}:`,
    '    provider: postgres',
    `    description: ${svc[0]?.toUpperCase()}${svc.slice(1)} database of team ${t} (production)`,
    `    connection: ${conn}`,
    '    roles:',
    `      read-only:  { grant: [${conn}_read], read_only: true, statement_timeout: 30s }`,
    `      read-write: { grant: [${conn}_write], connection_limit: 2, statement_timeout: 60s }`,
    ...(hasMigrate(s) ? [`      migrate:    { grant: [${conn}_owner], log_statement: all }`] : []),
  ].join('\n');
}

/** Rule `k` of team `t` of `teams`; ten kinds in turn, so every rule feature and glob shape appears. */
function ruleYaml(t: number, k: number, teams: number): string {
  const svc = svcOf(t, k);
  const other = svcOf(t, k + 3);
  const next = (t + 1) % teams;
  const zone = zoneOf(t);
  const lines: string[] = [];
  switch (k % 10) {
    case 0:
      lines.push(
        `  - name: t${t}-read-${k}`,
        `    description: Team ${t} reads its databases with one lead's approval.`,
        `    requesters: ["@acme/team${t}"]`,
        `    resources: ["team${t}-*-db"]`,
        '    roles: [read-only]',
        `    max_duration: ${4 + (k % 5)}h`,
        '    approvals:',
        `      - { from: ["@acme/team${t}-leads"], count: 1 }`,
      );
      break;
    case 1:
      lines.push(
        `  - name: t${t}-write-${svc}-${k}`,
        '    description: Writing needs a ticket, office hours, a lead and a DBA.',
        `    requesters: ["@acme/team${t}"]`,
        `    resources: [team${t}-${svc}-db]`,
        '    roles: [read-write]',
        '    max_duration: 2h',
        '    require_ticket: true',
        `    hours: { days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00", tz: ${zone} }`,
        '    approvals:',
        `      - { from: ["@acme/team${t}-leads"], count: 1 }`,
        '      - { from: ["@acme/dba"], count: 1 }',
      );
      break;
    case 2:
      lines.push(
        `  - name: t${t}-oncall-${k}`,
        '    description: On-call engineers read without approval (CODEOWNERS still apply).',
        `    requesters: [${dev(t, 0)}, ${dev(t, 1)}]`,
        `    resources: ["team${t}-${svc}-*"]`,
        '    roles: ["read-*"]',
        '    max_duration: 1h',
      );
      break;
    case 3:
      lines.push(
        `  - name: t${t}-night-${k}`,
        '    description: Night maintenance window, spanning midnight.',
        `    requesters: ["@acme/team${t}", "@acme/sre"]`,
        `    resources: [team${t}-${svc}-db]`,
        '    roles: [read-write]',
        '    max_duration: 4h',
        `    hours: { from: "22:00", to: "06:00", tz: ${zone} }`,
        '    approvals:',
        '      - { from: ["@acme/sre"], count: 1 }',
      );
      break;
    case 4:
      lines.push(
        `  - name: t${t}-sre-${svc}-${k}`,
        `    description: SRE reads every ${svc} database.`,
        '    requesters: ["@acme/sre"]',
        `    resources: ["*-${svc}-db"]`,
        '    roles: [read-only]',
        '    max_duration: 1d',
        '    approvals:',
        '      - { from: ["@acme/sre", "@acme/security"], count: 1 }',
      );
      break;
    case 5:
      lines.push(
        `  - name: t${t}-leads-${k}`,
        '    description: Leads get any role on their team’s resources, with a ticket.',
        `    requesters: ["@acme/team${t}-leads"]`,
        `    resources: ["team${t}-*"]`,
        '    max_duration: 4h',
        '    require_ticket: true',
        '    approvals:',
        '      - { from: ["@acme/dba", "@acme/sre"], count: 1 }',
      );
      break;
    case 6:
      lines.push(
        `  - name: t${t}-no-contractor-write-${k}`,
        '    effect: deny',
        `    requesters: [${dev(t, DEVS_PER_TEAM - 1)}]`,
        `    resources: [team${t}-${svc}-db]`,
        '    roles: [read-write, migrate]',
        '    message: Contractors do not write to production databases',
      );
      break;
    case 7:
      lines.push(
        `  - name: t${t}-shared-${k}`,
        `    description: Teams ${t} and ${next} share these two databases.`,
        `    requesters: ["@acme/team${t}", "@acme/team${next}"]`,
        `    resources: ["team${t}-{${svc},${other}}-db"]`,
        '    roles: [read-only]',
        '    max_duration: 3h',
        '    approvals:',
        `      - { from: ["@acme/team${t}-leads", "@acme/team${next}-leads"], count: 1 }`,
      );
      break;
    case 8:
      lines.push(
        `  - name: t${t}-migrate-${k}`,
        '    description: Schema migrations need two DBAs.',
        `    requesters: ["@acme/team${t}"]`,
        `    resources: ["team${t}-*-db"]`,
        '    roles: [migrate]',
        '    max_duration: 30m',
        '    require_ticket: true',
        '    approvals:',
        '      - { from: ["@acme/dba"], count: 2 }',
      );
      break;
    default:
      lines.push(
        `  - name: t${t}-no-contractors-${k}`,
        '    effect: deny',
        '    requesters: ["@acme/contractors"]',
        `    resources: ["team${t}-${svc}-db"]`,
        '    roles: [read-write, migrate]',
      );
  }
  return lines.join('\n');
}

const GUARDRAILS = `# yaml-language-server: $schema=../schemas/policy.schema.json
# Organisation-wide guardrails: deny rules win over every allow rule.
rules:
  - name: no-auth-writes
    effect: deny
    resources: ["*-auth-db"]
    roles: [read-write, migrate]
    message: Authentication databases are changed by deploys only
  - name: no-billing-migrations
    effect: deny
    resources: ["*-billing-db"]
    roles: [migrate]
`;
const GUARDRAIL_RULES = 2;

/** Broken request files, one per kind, so every error path of the loader, schema and checks runs. */
const INVALID: ((r: Record<string, string>) => string)[] = [
  (r) => lib.requestYaml({ ...r, reason: 'debug' }),
  (r) => lib.requestYaml({ ...r, duration: '2 hours' }),
  (r) => lib.requestYaml({ ...r, resource: (r.resource as string).replace('-db', '-dbs') }),
  (r) => lib.requestYaml({ ...r, role: 'admin' }),
  (r) => lib.requestYaml({ ...r, until: '2026-11-30T09:00:00Z' }).replace(/^duration:.*\n/m, ''),
  (r) => lib.requestYaml({ ...r, until: '2026-12-01T18:00:00Z' }),
  (r) => lib.requestYaml(r, `requester: ${r.requester}\n`),
  (r) => lib.requestYaml({ ...r, requester: `&who ${r.requester}` }),
  (r) => lib.requestYaml({ ...r, resource: `[${r.resource}` }),
  (r) => lib.requestYaml({ ...r, priority: 'urgent' }),
  (r) => lib.requestYaml({ ...r, ticket: '!!str BUG 1' }),
];

export function generateRepo(files: number, rules: number): GeneratedRepo {
  const root = lib.tempDir('timebox-bench-');
  // The same seed on every run, so that every run generates the same repo.
  const rand = lib.random(20261201);
  const pick = lib.picker(rand);
  const teams = Math.max(2, Math.round(rules / 50));
  const policyRules = rules - GUARDRAIL_RULES;
  let bytes = 0;
  const write = (path: string, text: string) => {
    lib.writeInto(root, path, text);
    bytes += Buffer.byteLength(text);
  };

  // Policies: teams spread over POLICY_FILES files, each holding its teams' resources and rules.
  const groups = Math.min(POLICY_FILES - 1, teams);
  const groupOf = (t: number) => t % groups;
  const parts = Array.from({ length: groups }, () => ({ resources: [] as string[], rules: [] as string[] }));
  for (let t = 0; t < teams; t++) {
    for (let s = 0; s < SERVICES_PER_TEAM; s++) parts[groupOf(t)]?.resources.push(resourceYaml(t, s));
  }
  for (let i = 0; i < policyRules; i++) {
    const t = i % teams;
    parts[groupOf(t)]?.rules.push(ruleYaml(t, Math.floor(i / teams), teams));
  }
  parts.forEach((p, g) => {
    write(
      `policies/group-${String(g).padStart(2, '0')}.yaml`,
      `# yaml-language-server: $schema=../schemas/policy.schema.json\n# Teams ${Array.from(
        { length: teams },
        (_, t) => t,
      )
        .filter((t) => groupOf(t) === g)
        .join(', ')}.\nresources:\n${p.resources.join('\n')}\n\nrules:\n${p.rules.join('\n\n')}\n`,
    );
  });
  write('policies/guardrails.yaml', GUARDRAILS);

  // Teams: members, leads, on-call and shared teams; every tenth developer is a contractor.
  const teamLines: string[] = [];
  for (let t = 0; t < teams; t++) {
    const devs = Array.from({ length: DEVS_PER_TEAM }, (_, i) => dev(t, i));
    teamLines.push(`"@acme/team${t}": [${devs.join(', ')}]`, `"@acme/team${t}-leads": [${lead(t)}]`);
  }
  teamLines.push(
    `"@acme/contractors": [${Array.from({ length: teams }, (_, t) => dev(t, DEVS_PER_TEAM - 1)).join(', ')}]`,
    '"@acme/dba": [dba-ann, dba-bo]',
    '"@acme/sre": [sre-cy, sre-di]',
    '"@acme/security": [sec-eve]',
    '"@acme/access-admins": [admin-fay]',
  );
  write('teams.yaml', `${teamLines.join('\n')}\n`);

  // CODEOWNERS: a catch-all, governance paths, one pattern per team and one per contractor directory.
  const owners = [
    '# Everything not matched below.',
    '* @acme/security',
    '/policies/ @acme/security',
    '/schemas/ @acme/security',
    '/.github/ @acme/security',
    '/docs/ @acme/access-admins',
    '*.md @acme/access-admins',
    '/requests/ @acme/access-admins',
  ];
  for (let t = 0; t < teams; t++) {
    owners.push(`/requests/t${t}-*/ @acme/team${t}-leads @acme/access-admins`);
    owners.push(`/requests/${dev(t, DEVS_PER_TEAM - 1)}/ @acme/security # contractor`);
  }
  write('.github/CODEOWNERS', `${owners.join('\n')}\n`);

  // Requests: every developer gets files in turn; ~3% broken, ~5% written to be denied, the rest plausible.
  const intended = { invalid: 0, denied: 0 };
  const users = teams * DEVS_PER_TEAM;
  const counter = new Map<string, number>();
  for (let j = 0; j < files; j++) {
    const u = j % users;
    const t = Math.floor(u / DEVS_PER_TEAM);
    let requester = dev(t, u % DEVS_PER_TEAM);
    // Leads and SRE file requests too.
    if (j % 97 === 0) requester = lead(t);
    else if (j % 89 === 0) requester = pick(['sre-cy', 'sre-di']);
    const s = Math.floor(rand() * SERVICES_PER_TEAM);
    const roll = rand();
    let role = roll < 0.7 ? 'read-only' : roll < 0.95 ? 'read-write' : 'migrate';
    if (role === 'migrate' && !hasMigrate(s)) role = 'read-only';
    const fields: Record<string, string> = {
      requester,
      resource: `team${t}-${SERVICES[s]}-db`,
      role,
      duration: role === 'migrate' ? '30m' : pick(['30m', '1h', '1h30m', '2h', '4h']),
      reason: `${pick(['Investigate', 'Reproduce', 'Backfill', 'Audit'])} ${pick(['INC', 'BUG', 'OPS'])}-${1000 + j}, ${pick(['totals off by VAT', 'slow checkout queries', 'missing rows after import', 'customer complaint about duplicates'])}`,
    };
    if (role !== 'read-only' || rand() < 0.5) fields.ticket = `OPS-${1000 + j}`;
    if (role === 'read-write') {
      fields.duration = pick(['30m', '1h']);
      fields.start = OFFICE_START[zoneOf(t)] as string;
    }
    let text: string;
    const kind = rand();
    if (kind < 0.03) {
      intended.invalid++;
      text = (INVALID[j % INVALID.length] as (r: Record<string, string>) => string)(fields);
    } else if (kind < 0.08) {
      intended.denied++;
      switch (j % 5) {
        case 0: // longer than any rule allows
          fields.duration = '3d';
          break;
        case 1: // another team's database
          fields.resource = `team${(t + 1) % teams}-${SERVICES[s]}-db`;
          break;
        case 2: // a guardrail deny rule
          fields.resource = `team${t}-auth-db`;
          fields.role = 'read-write';
          fields.duration = '1h';
          break;
        case 3: // writing outside office hours (now, at AT), without a ticket
          fields.role = 'read-write';
          fields.duration = '1h';
          delete fields.start;
          delete fields.ticket;
          break;
        default: // a contractor writing
          fields.requester = dev(t, DEVS_PER_TEAM - 1);
          fields.role = 'read-write';
      }
      text = lib.requestYaml(fields);
    } else {
      text = lib.requestYaml(fields);
    }
    const n = (counter.get(requester) ?? 0) + 1;
    counter.set(requester, n);
    write(`requests/${requester}/${n}.yaml`, text);
  }

  // Approvals given offline (`--approved-by`): the leads of even teams, one DBA and one SRE.
  const approvers = ['dba-ann', 'sre-cy'];
  for (let t = 0; t < teams; t += 2) approvers.push(lead(t));
  return {
    root,
    teamsFile: join(root, 'teams.yaml'),
    approvedBy: approvers.join(','),
    teams,
    resources: teams * SERVICES_PER_TEAM,
    rules,
    requestFiles: files,
    codeownersPatterns: owners.filter((l) => !l.startsWith('#')).length,
    intended,
    bytes,
  };
}

// --- the code under test -------------------------------------------------------------------------------

/** Timebox's modules: from src/ through tsx (default), or the compiled dist/ that `bin/timebox.js` runs. */
interface Timebox {
  check: typeof checkModule;
  chunks: typeof chunksModule;
  context: typeof contextModule;
  decide: typeof decideModule;
  accessRepo: typeof accessRepoModule;
  source: typeof sourceModule;
}

async function loadTimebox(dist: boolean): Promise<Timebox> {
  const base = new URL(dist ? '../dist/' : '../src/', import.meta.url);
  if (dist) {
    const main = fileURLToPath(new URL('cli/main.js', base));
    let built: number;
    try {
      built = statSync(main).mtimeMs;
    } catch {
      throw new Error('--dist: dist/ is not built; run `npm run build` first');
    }
    const src = fileURLToPath(new URL('../src/', import.meta.url));
    let stale: string[] = [];
    try {
      stale = (readdirSync(src, { recursive: true }) as string[]).filter(
        (p) => p.endsWith('.ts') && statSync(join(src, p)).mtimeMs > built,
      );
    } catch {
      // No src/ beside dist/: nothing to compare with.
    }
    if (stale.length > 0) {
      process.stderr.write(
        `warning: dist/ is older than ${stale.length} file(s) in src/ (${stale.slice(0, 3).join(', ')}); run \`npm run build\`\n`,
      );
    }
  }
  const load = async <T>(path: string): Promise<T> => (await import(new URL(path, base).href)) as T;
  return {
    check: await load<typeof checkModule>('cli/check.js'),
    chunks: await load<typeof chunksModule>('check/chunks.js'),
    context: await load<typeof contextModule>('cli/context.js'),
    decide: await load<typeof decideModule>('core/decide.js'),
    accessRepo: await load<typeof accessRepoModule>('repo/access-repo.js'),
    source: await load<typeof sourceModule>('repo/source.js'),
  };
}

// --- measuring -----------------------------------------------------------------------------------------

/** `YAML.parse`, surviving broken files as a checker must. */
function parseAll(texts: string[]): number {
  let parsed = 0;
  for (const text of texts) {
    try {
      if (parse(text) !== undefined) parsed++;
    } catch {
      // A broken file.
    }
  }
  return parsed;
}

/**
 * (A) The floor: list the request files, read them, `YAML.parse` each. `sync` reads with `readFileSync`, the
 * cheapest way to read many small files, so that the floor really is one; `async` reads one file after
 * another with `fs/promises.readFile`, as `check` does, to show what that way of reading costs.
 */
async function floor(root: string, read: 'sync' | 'async'): Promise<number> {
  const dir = join(root, 'requests');
  const names = (await readdir(dir, { recursive: true })).filter((p) => p.endsWith('.yaml')).sort();
  const texts: string[] = [];
  if (read === 'sync') for (const name of names) texts.push(readFileSync(join(dir, name), 'utf8'));
  else for (const name of names) texts.push(await readFile(join(dir, name), 'utf8'));
  return parseAll(texts);
}

interface CheckRun {
  exit: number;
  output: string;
  warnings: string;
}

/** (B) `timebox check --at AT --teams teams.yaml --approved-by … [--json]` in the generated repo. */
async function check(tb: Timebox, repo: GeneratedRepo, json: boolean, workers?: number): Promise<CheckRun> {
  const io = lib.collectingIo(repo.root);
  const exit = await tb.check.runCheck(io, [], {
    repo: repo.root,
    teams: repo.teamsFile,
    at: AT,
    approvedBy: repo.approvedBy,
    json,
    ...(workers === undefined ? {} : { workers }),
  });
  return { exit, output: io.out.join(''), warnings: io.err.join('') };
}

/** (C) Only loading timebox.yaml, the policies and CODEOWNERS. */
async function loadPolicies(tb: Timebox, repo: GeneratedRepo): Promise<number> {
  const loaded = await tb.accessRepo.loadAccessRepo(tb.source.workingTree(repo.root));
  if (loaded.errors.length > 0)
    throw new Error(`generated policies are invalid: ${loaded.errors[0]?.message}`);
  return loaded.policies.rules.length;
}

/** The request files already in memory, and the rest of `check`'s input, for the CPU-only measurements. */
interface InMemory {
  texts: string[];
  input: decideModule.CheckInput;
}

async function inMemory(tb: Timebox, repo: GeneratedRepo): Promise<InMemory> {
  const tree = tb.source.workingTree(repo.root);
  const loaded = await tb.accessRepo.loadAccessRepo(tree);
  const paths = (await tree.list('requests')).filter((p) => p.endsWith('.yaml'));
  const files: ChangedRequestFile[] = [];
  for (const path of paths) {
    files.push({ path, status: 'added', content: await readFile(join(repo.root, path), 'utf8') });
  }
  const teams = tb.context.parseTeams(await readFile(repo.teamsFile, 'utf8'), repo.teamsFile);
  const at = new Date(AT);
  return {
    texts: files.map((f) => f.content ?? ''),
    input: {
      files,
      changedPaths: [],
      pull: tb.context.offlinePull(undefined, tb.context.parseList(repo.approvedBy), teams, at),
      policies: loaded.policies,
      codeowners: loaded.codeowners,
      config: loaded.config,
      at,
    },
  };
}

/** (B') What `check --json` does once the files are read: decide every file, serialise the results. */
function checkInMemory(tb: Timebox, mem: InMemory): number {
  // A fresh Policies object, as each `check` run loads its own: per-policy-set memos start cold.
  const policies = { ...mem.input.policies };
  const decisions = tb.decide.decideAll({ ...mem.input, policies });
  return JSON.stringify({ results: decisions.map(tb.check.toJson) }, null, 2).length;
}

/** Only the hardened YAML loader and the request schema (`parseRequest`) on every request text. */
function parseRequests(tb: Timebox, mem: InMemory): number {
  let ok = 0;
  for (const f of mem.input.files) {
    if (tb.decide.parseRequest(f.path, f.content ?? '', mem.input.config).request) ok++;
  }
  return ok;
}

const ms = (n: number) => `${n.toFixed(1)} ms`;
const perFile = (n: number, files: number) => `${((n * 1000) / files).toFixed(1)} µs/file`;

export async function main(argv: string[]): Promise<void> {
  const opts = readOptions(argv);
  const tb = await loadTimebox(opts.dist);
  const stopSampler = lib.startRssSampler(true);
  const gc = lib.collector();

  const g0 = performance.now();
  const repo = generateRepo(opts.files, opts.rules);
  const genMs = performance.now() - g0;
  try {
    lib.printMachine('check');
    lib.out(`code: ${opts.dist ? 'dist/ (compiled, as bin/timebox.js runs it)' : 'src/ through tsx'}`);
    lib.out(
      `repo: ${repo.requestFiles} request files (${repo.intended.invalid} broken, ${repo.intended.denied} written to be denied), ` +
        `${repo.rules} rules, ${repo.resources} resources, ${repo.teams} teams, ${repo.codeownersPatterns} CODEOWNERS patterns; ` +
        `${lib.mib(repo.bytes)} generated in ${ms(genMs)}${opts.keep ? ` at ${repo.root}` : ''}`,
    );
    lib.printRoundsPlan(opts.rounds);
    lib.out();

    const mem = await inMemory(tb, repo);
    const times = {
      floor: [] as number[],
      floorAsync: [] as number[],
      json: [] as number[],
      jsonAlone: [] as number[],
      human: [] as number[],
      policies: [] as number[],
      parseMem: [] as number[],
      checkMem: [] as number[],
      requestsMem: [] as number[],
    };
    let json: CheckRun | null = null;
    let human: CheckRun | null = null;
    let floorParsed = 0;
    let ruleCount = 0;
    /** The worker threads (B) ran with in each measured round: as check picks them now, unless --workers. */
    const threads: number[] = [];
    for (let round = 0; round <= opts.rounds; round++) {
      const measure = lib.measurer(gc, round);
      floorParsed = await measure(times.floor, () => floor(repo.root, 'sync'));
      await measure(times.floorAsync, () => floor(repo.root, 'async'));
      const workers = opts.workers ?? tb.chunks.workersFor(repo.requestFiles);
      if (round > 0) threads.push(workers);
      json = await measure(times.json, () => check(tb, repo, true, workers));
      const alone = await measure(times.jsonAlone, () => check(tb, repo, true, 0));
      if (alone.output !== json.output) throw new Error('check printed other results without worker threads');
      human = await measure(times.human, () => check(tb, repo, false, workers));
      ruleCount = await measure(times.policies, () => loadPolicies(tb, repo));
      await measure(times.parseMem, () => parseAll(mem.texts));
      await measure(times.checkMem, () => checkInMemory(tb, mem));
      await measure(times.requestsMem, () => parseRequests(tb, mem));
      lib.roundDone(round);
    }

    const m = lib.medians(times);
    const ratio = m.json / m.floor;
    const statuses: Record<string, number> = {};
    const results = (JSON.parse(json?.output ?? '{"results":[]}') as { results: { status: string }[] })
      .results;
    for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;

    const n = opts.files;
    const rows: lib.Row[] = [
      ['(A) floor: list + readFileSync + YAML.parse', ms(m.floor), perFile(m.floor, n)],
      [
        '(B) check --json (runCheck)',
        ms(m.json),
        `${perFile(m.json, n)}; worker threads beside the main one, by round: ${threads.join(' ')}`,
      ],
      ['(B1) check --json, main thread only', ms(m.jsonAlone), `${perFile(m.jsonAlone, n)} (workers: 0)`],
      ['(B) check, human output', ms(m.human), perFile(m.human, n)],
      ['(C) load policies + CODEOWNERS', ms(m.policies), `${ruleCount} rules; part of (B), once per run`],
      ['ratio (B) --json / (A)', `${ratio.toFixed(2)}x`, `goal <= ${GOAL}x`],
      ['ratio (B) human / (A)', `${(m.human / m.floor).toFixed(2)}x`, ''],
      ['ratio (B1) --json / (A)', `${(m.jsonAlone / m.floor).toFixed(2)}x`, 'without worker threads'],
      ['', '', ''],
      [
        '(A~) floor, reading as check does',
        ms(m.floorAsync),
        `${perFile(m.floorAsync, n)} (await readFile, one by one)`,
      ],
      [
        'ratio (B) --json / (A~)',
        `${(m.json / m.floorAsync).toFixed(2)}x`,
        'check beside a floor that reads the same way',
      ],
      ['', '', ''],
      ['in memory, no file I/O:', '', ''],
      ["(A') YAML.parse", ms(m.parseMem), perFile(m.parseMem, n)],
      ["(B') decideAll + JSON output", ms(m.checkMem), perFile(m.checkMem, n)],
      [
        '     of which parseRequest',
        ms(m.requestsMem),
        `${perFile(m.requestsMem, n)} (hardened YAML + schema)`,
      ],
      ["ratio (B') / (A')", `${(m.checkMem / m.parseMem).toFixed(2)}x`, 'computation only'],
      ['', '', ''],
      ...lib.peakRssRows(),
    ];
    lib.printTable(rows);
    lib.out();
    lib.out(
      `all rounds (ms): A ${lib.roundsList(times.floor)} | A~ ${lib.roundsList(times.floorAsync)} | B --json ${lib.roundsList(times.json)} | B1 ${lib.roundsList(times.jsonAlone)} | B human ${lib.roundsList(times.human)} | ` +
        `C ${lib.roundsList(times.policies)} | A' ${lib.roundsList(times.parseMem)} | B' ${lib.roundsList(times.checkMem)}`,
    );
    lib.out(
      `decisions: ${Object.entries(statuses)
        .map(([s, c]) => `${c} ${s}`)
        .join(', ')}; exit code ${json?.exit}; floor parsed ${floorParsed} files; ` +
        `output ${lib.mib(json?.output.length ?? 0)} JSON, ${lib.mib(human?.output.length ?? 0)} human` +
        (json?.warnings ? `; stderr: ${json.warnings.trim().split('\n').length} line(s)` : ''),
    );
    lib.out();
    lib.out(
      ratio <= GOAL
        ? `goal met: check is ${ratio.toFixed(2)}x the parse floor (goal <= ${GOAL}x)`
        : `goal NOT met: check is ${ratio.toFixed(2)}x the parse floor (goal <= ${GOAL}x)`,
    );
  } finally {
    stopSampler();
    if (!opts.keep) lib.removeDir(repo.root);
  }
}

await main(process.argv.slice(2));
