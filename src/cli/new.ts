// `timebox new`: scaffold a request file from flags, asking for what is missing only on a terminal.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import { simpleGit } from 'simple-git';
import { stringify } from 'yaml';
import { parseRequest } from '../core/decide.js';
import { parseDuration } from '../core/duration.js';
import type { AccessRequest, Policies, ReadRequest } from '../core/model.js';
import { rulesForRole } from '../core/policy.js';
import { requestSchema } from '../core/schemas.js';
import { workingTree } from '../repo/source.js';
import { type Io, loadRepoOrFail, repoRoot } from './context.js';
import { EXIT, UsageError } from './errors.js';

export interface NewOptions {
  repo?: string;
  requester?: string;
  resource?: string;
  role?: string;
  duration?: string;
  until?: string;
  reason?: string;
  ticket?: string;
  start?: string;
  file?: string;
  json?: boolean;
  /** Break-glass (SPEC "Break-glass"): writes `emergency: true`; refused where no allow rule has `break_glass`. */
  emergency?: boolean;
}

/** Asks for one value; injected so tests can answer without a terminal. */
export interface Prompter {
  select(message: string, choices: { value: string; name: string; description?: string }[]): Promise<string>;
  input(message: string, validate: (v: string) => true | string, initial?: string): Promise<string>;
}

export async function inquirerPrompter(): Promise<Prompter> {
  const { select, input } = await import('@inquirer/prompts');
  return {
    select: (message, choices) => select({ message, choices }),
    input: (message, validate, initial) =>
      input({ message, validate, ...(initial ? { default: initial } : {}) }),
  };
}

const ORDER: (keyof AccessRequest)[] = [
  'requester',
  'resource',
  'role',
  'duration',
  'until',
  'start',
  'reason',
  'ticket',
];

export async function runNew(io: Io, opts: NewOptions, prompter?: Prompter): Promise<number> {
  const root = repoRoot(io, opts.repo);
  const repo = await loadRepoOrFail(io, workingTree(root));
  const draft: Partial<AccessRequest> = {};
  for (const k of ORDER) {
    const v = opts[k];
    if (v !== undefined) draft[k] = v;
  }
  if (draft.requester === undefined) {
    const guess = io.env.GITHUB_ACTOR || (await gitHubUser(root));
    if (guess) draft.requester = guess;
  }
  if (draft.duration !== undefined && draft.until !== undefined)
    throw new UsageError('give either --duration or --until, not both');

  if (prompter) await ask(draft, repo.policies, prompter);
  const missing = (['requester', 'resource', 'role', 'reason'] as const).filter(
    (k) => draft[k] === undefined,
  );
  if (draft.duration === undefined && draft.until === undefined) missing.push('duration' as never);
  if (missing.length > 0) {
    throw new UsageError(
      `missing ${missing.map((m) => `--${m}`).join(', ')} (run \`timebox new\` in a terminal to be asked, or pass the flags)`,
    );
  }
  const request: ReadRequest = draft as AccessRequest;
  if (opts.emergency) request.emergency = true;
  const path = opts.file
    ? relative(root, resolve(io.cwd, opts.file)).split(sep).join('/')
    : defaultPath(root, repo.config.paths.requests, request, io.clock.now());
  const text = render(root, path, request);

  const parsed = parseRequest(path, text, repo.config);
  const problems = parsed.errors.map(
    (e) => `${e.path === '$' ? path : `--${e.path.slice(2)}`}: ${e.message}`,
  );
  if (!repo.policies.resources.has(request.resource))
    problems.push(`--resource: unknown resource \`${request.resource}\``);
  else if (!Object.hasOwn(repo.policies.resources.get(request.resource)?.roles ?? {}, request.role)) {
    problems.push(`--role: resource \`${request.resource}\` has no role \`${request.role}\``);
  }
  if (problems.length === 0 && request.emergency) problems.push(...emergencyProblems(repo.policies, request));
  if (problems.length > 0) throw new UsageError(`cannot write this request:\n  ${problems.join('\n  ')}`);

  const abs = resolve(root, path);
  if (existsSync(abs)) throw new UsageError(`${path} already exists; choose another --file`);
  await mkdir(dirname(abs), { recursive: true });
  await writeFile(abs, text, { flag: 'wx' });
  if (opts.json) io.stdout(`${JSON.stringify({ file: path, request }, null, 2)}\n`);
  else {
    io.stdout(`wrote ${path}\n`);
    io.stderr(
      `next: timebox check ${path}; then commit it on a branch and open a pull request (git switch -c access/${request.resource}-${request.role})\n`,
    );
  }
  return EXIT.ok;
}

/**
 * Why `--emergency` cannot help this request: no allow rule for its resource and role has `break_glass` (the
 * flag would change nothing: the request would wait for its approvals), or it asks for longer than every such
 * rule's `max_duration` (it would be denied). Who may use a rule is checked by `timebox check`, which knows
 * the teams.
 */
function emergencyProblems(policies: Policies, r: ReadRequest): string[] {
  const rules = rulesForRole(policies, r.resource, r.role).filter(
    (x) => x.effect === 'allow' && x.breakGlass,
  );
  if (rules.length === 0)
    return [
      `--emergency: no allow rule for \`${r.resource}\` role \`${r.role}\` has \`break_glass\`, so an emergency request would just wait for its approvals; leave out --emergency (or ask the policy owners for a break-glass rule)`,
    ];
  const asked = r.duration === undefined ? null : parseDuration(r.duration);
  const longest = Math.max(...rules.map((x) => parseDuration(x.breakGlass?.maxDuration ?? '') ?? 0));
  if (asked !== null && asked > longest) {
    const limits = rules.map((x) => `${x.breakGlass?.maxDuration} under rule ${x.name}`).join(', ');
    return [`--duration: an emergency request may last at most ${limits}; ${r.duration} would be denied`];
  }
  return [];
}

async function ask(draft: Partial<AccessRequest>, policies: Policies, p: Prompter): Promise<void> {
  const field = (k: keyof AccessRequest) =>
    (requestSchema.properties as Record<string, { pattern?: string }>)[k];
  const check = (k: keyof AccessRequest) => (v: string) => {
    const pattern = field(k)?.pattern;
    return !pattern || new RegExp(pattern).test(v) ? true : `not a valid ${k}`;
  };
  if (draft.requester === undefined) draft.requester = await p.input('Your GitHub login', check('requester'));
  if (draft.resource === undefined) {
    const resources = [...policies.resources.values()];
    if (resources.length === 0) throw new UsageError('the policies define no resources');
    draft.resource = await p.select(
      'Resource',
      resources.map((r) => ({
        value: r.id,
        name: r.id,
        ...(r.description ? { description: r.description } : {}),
      })),
    );
  }
  if (draft.role === undefined) {
    const roles = Object.keys(policies.resources.get(draft.resource)?.roles ?? {});
    draft.role = await p.select(
      'Role',
      roles.map((r) => ({ value: r, name: r })),
    );
  }
  if (draft.duration === undefined && draft.until === undefined) {
    draft.duration = await p.input('Duration (30m, 2h, 1d12h)', check('duration'), '1h');
  }
  if (draft.reason === undefined) {
    draft.reason = await p.input('Reason (at least 10 characters)', (v) =>
      v.trim().length >= 10 ? true : 'at least 10 characters',
    );
  }
  if (draft.ticket === undefined) {
    const t = await p.input('Ticket (optional)', (v) =>
      v === '' || check('ticket')(v) === true ? true : 'no spaces',
    );
    if (t) draft.ticket = t;
  }
}

function defaultPath(root: string, dir: string, r: AccessRequest, now: Date): string {
  const day = now.toISOString().slice(0, 10);
  const stem = `${dir}/${r.requester.toLowerCase()}/${day}-${r.resource}-${r.role}`;
  for (let n = 1; ; n++) {
    const p = n === 1 ? `${stem}.yaml` : `${stem}-${n}.yaml`;
    if (!existsSync(resolve(root, p))) return p;
  }
}

/** The request as YAML with the schema modeline, keys in the documented order. */
function render(root: string, path: string, request: ReadRequest): string {
  const local = resolve(root, 'schemas/request.schema.json');
  const schema = existsSync(local)
    ? relative(dirname(resolve(root, path)), local)
        .split(sep)
        .join('/')
    : String(requestSchema.$id);
  const ordered: Record<string, string | boolean> = {};
  for (const k of ORDER) {
    const v = request[k];
    if (v !== undefined) ordered[k] = v;
  }
  if (request.emergency) ordered.emergency = true;
  return `# yaml-language-server: $schema=${schema}\n${stringify(ordered, { lineWidth: 0 })}`;
}

async function gitHubUser(root: string): Promise<string | undefined> {
  try {
    const v = (await simpleGit(root).raw(['config', '--get', 'github.user'])).trim();
    return v || undefined;
  } catch {
    return undefined;
  }
}
