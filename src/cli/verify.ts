// `timebox verify`: run the policy tests in policies/tests/*.yaml against the policies beside them.
import { stringify } from 'yaml';
import { belowMinimum, type Coverage, policyCoverage } from '../core/coverage.js';
import { decideRequest } from '../core/decide.js';
import type { Decision, Status } from '../core/model.js';
import { validateSchema } from '../core/schemas.js';
import { loadYaml } from '../core/yaml-loader.js';
import type { AccessRepo } from '../repo/access-repo.js';
import { workingTree } from '../repo/source.js';
import { colors, type Io, loadRepoOrFail, loadTeams, offlinePull, repoRoot } from './context.js';
import { ConfigError, EXIT, UsageError } from './errors.js';

/** Tests decide at a fixed time unless they say otherwise, so they never depend on the clock. */
const DEFAULT_TEST_TIME = '2026-01-07T10:00:00Z';

interface PolicyTest {
  name: string;
  file?: string;
  request: Record<string, unknown>;
  author?: string;
  approved_by?: string[];
  at?: string;
  expect: Status;
  expect_rule?: string;
  /** Logins with an open, unratified break-glass alarm (a fact the engine gathers; tests state it). */
  open_alarms?: string[];
  expect_break_glass?: boolean;
}

interface TestResult {
  file: string;
  line: number;
  name: string;
  expect: Status;
  status: Status;
  rule: string | null;
  /** The rule whose `break_glass` approved it, or null. */
  break_glass: string | null;
  passed: boolean;
  reasons: string[];
}

export interface VerifyOptions {
  repo?: string;
  teams?: string;
  json?: boolean;
  /** Also report the rules and approval steps no test exercises (src/core/coverage.ts). */
  coverage?: boolean;
  /** With coverage: exit 1 when rules or steps are covered below this percentage (implies coverage). */
  min?: string;
}

export async function runVerify(io: Io, opts: VerifyOptions): Promise<number> {
  const min = parseMin(opts.min);
  const root = repoRoot(io, opts.repo);
  const tree = workingTree(root);
  const repo = await loadRepoOrFail(io, tree);
  const cliTeams = await loadTeams(io, opts.teams);
  const dir = `${repo.config.paths.policies}/tests`;
  const testFiles = (await tree.list(dir)).filter((p) => /^[^/]+\.ya?ml$/.test(p.slice(dir.length + 1)));
  if (testFiles.length === 0) throw new ConfigError(`no policy tests found in ${dir}/`);

  const results: TestResult[] = [];
  const decisions: Decision[] = [];
  for (const path of testFiles) {
    for (const { result, decision } of runTestFile(path, (await tree.read(path)) ?? '', repo, cliTeams)) {
      results.push(result);
      decisions.push(decision);
    }
  }
  const passed = results.filter((r) => r.passed).length;
  const failed = results.length - passed;
  const coverage = opts.coverage || min !== null ? policyCoverage(repo.policies.rules, decisions) : null;
  const short = coverage && min !== null ? belowMinimum(coverage, min) : [];
  if (opts.json) {
    const doc = {
      tests: results,
      passed,
      failed,
      ...(coverage
        ? { coverage: { ...coverage, ...(min === null ? {} : { min, met: short.length === 0 }) } }
        : {}),
    };
    io.stdout(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    io.stdout(formatResults(io, results, passed, failed));
    if (coverage) io.stdout(formatCoverage(coverage));
  }
  if (coverage && min !== null && short.length > 0) io.stderr(belowMessage(coverage, min, short));
  return failed > 0 || short.length > 0 ? EXIT.failed : EXIT.ok;
}

/** `--min PCT`: a percentage from 0 to 100 (a trailing `%` is allowed), or null without the flag. */
function parseMin(value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = /^\s*(\d{1,3}(?:\.\d+)?)\s*%?\s*$/.exec(value)?.[1];
  const pct = n === undefined ? Number.NaN : Number(n);
  if (!(pct >= 0 && pct <= 100))
    throw new UsageError(`--min must be a percentage from 0 to 100, such as 80 (got ${value})`);
  return pct;
}

const pct = (n: number) => `${n.toFixed(1).replace(/\.0$/, '')}%`;

/** The coverage lines after the test results: the two percentages, then each rule and step no test exercises. */
function formatCoverage(c: Coverage): string {
  const lines = [
    `coverage: rules ${c.rules.covered}/${c.rules.total} (${pct(c.rules.percent)}), approval steps ${c.steps.covered}/${c.steps.total} (${pct(c.steps.percent)})`,
    ...c.rules.uncovered.map(
      (r) => `  rule not exercised: ${r.rule} (${r.effect})  ${r.source.file}:${r.source.line}`,
    ),
    ...c.steps.uncovered.map(
      (s) =>
        `  step not exercised: ${s.rule} step ${s.step} (${s.count} from ${s.from.join(', ')})  ${s.source.file}:${s.source.line}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

/** Why `--min` failed: which percentage is short, and what is uncovered, by name. */
function belowMessage(c: Coverage, min: number, short: ('rules' | 'steps')[]): string {
  const parts = short.map((k) =>
    k === 'rules'
      ? `rules ${pct(c.rules.percent)} < ${pct(min)} (not exercised: ${c.rules.uncovered.map((r) => r.rule).join(', ')})`
      : `approval steps ${pct(c.steps.percent)} < ${pct(min)} (not exercised: ${c.steps.uncovered.map((s) => `${s.rule} step ${s.step}`).join(', ')})`,
  );
  return `timebox: coverage below --min ${pct(min)}: ${parts.join('; ')}\n`;
}

/** Every test of one file, decided against the access repo's policies; the file's teams add to `--teams`. */
function runTestFile(
  path: string,
  text: string,
  repo: AccessRepo,
  cliTeams: Record<string, string[]>,
): { result: TestResult; decision: Decision }[] {
  const loaded = loadYaml(text, { scalars: 'core', maxBytes: 1024 * 1024 });
  const errors =
    loaded.errors.length > 0 ? loaded.errors : validateSchema('policy-test', loaded.value, loaded);
  if (errors.length > 0)
    throw new ConfigError(
      `${path} is not a valid policy test file`,
      errors.map((e) => ({ file: path, ...e })),
    );
  const doc = loaded.value as { teams?: Record<string, string[]>; tests: PolicyTest[] };
  const teams = { ...cliTeams };
  for (const [k, v] of Object.entries(doc.teams ?? {}))
    teams[k.toLowerCase()] = [...(teams[k.toLowerCase()] ?? []), ...v];
  return doc.tests.map((t, i) => {
    const at = new Date(t.at ?? DEFAULT_TEST_TIME);
    const requester = typeof t.request.requester === 'string' ? t.request.requester : 'unknown';
    const file = t.file ?? `${repo.config.paths.requests}/${requester}/test.yaml`;
    // Round-trip through YAML text so the request is read exactly as a request file would be.
    const decision = decideRequest(file, stringify(t.request), {
      files: [],
      changedPaths: [],
      pull: {
        ...offlinePull(t.author ?? requester, t.approved_by ?? [], teams, at),
        unratifiedAlarms: t.open_alarms ?? [],
      },
      policies: repo.policies,
      codeowners: repo.codeowners,
      config: repo.config,
      at,
    });
    const glass = decision.break_glass?.rule ?? null;
    const glassOk = t.expect_break_glass === undefined || t.expect_break_glass === (glass !== null);
    const result: TestResult = {
      file: path,
      line: loaded.locate(['tests', i]).line,
      name: t.name,
      expect: t.expect,
      status: decision.status,
      rule: decision.rule,
      break_glass: glass,
      passed: decision.status === t.expect && (!t.expect_rule || decision.rule === t.expect_rule) && glassOk,
      reasons: [
        ...(glassOk
          ? []
          : [
              `expected ${t.expect_break_glass ? '' : 'no '}break-glass approval, got ${glass ? `break-glass by rule ${glass}` : 'none'}`,
            ]),
        ...decision.errors.map((e) => `${e.path}: ${e.message}`),
        ...decision.reasons.map((r) => `${r.rule}: ${r.message}`),
      ],
    };
    return { result, decision };
  });
}

/** One line per passing test; a failing one with where it is, what it expected and why it got else. */
function formatResults(io: Io, results: TestResult[], passed: number, failed: number): string {
  const c = colors(io);
  const lines = results.map((r) =>
    r.passed
      ? `${c.green('pass')}  ${r.name}`
      : [
          `${c.red('FAIL')}  ${r.name}  ${c.dim(`${r.file}:${r.line}`)}`,
          `      expected ${r.expect}, got ${r.status}${r.rule ? ` (rule ${r.rule})` : ''}`,
          ...r.reasons.map((x) => `      ${x}`),
        ].join('\n'),
  );
  return `${lines.join('\n')}\n\n${passed} passed, ${failed} failed\n`;
}
