// `timebox verify`: run the policy tests in policies/tests/*.yaml against the policies beside them.
import { stringify } from 'yaml';
import { decideRequest } from '../core/decide.js';
import type { Status } from '../core/model.js';
import { validateSchema } from '../core/schemas.js';
import { loadYaml } from '../core/yaml-loader.js';
import type { AccessRepo } from '../repo/access-repo.js';
import { workingTree } from '../repo/source.js';
import { colors, type Io, loadRepoOrFail, loadTeams, offlinePull, repoRoot } from './context.js';
import { ConfigError, EXIT } from './errors.js';

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

export async function runVerify(
  io: Io,
  opts: { repo?: string; teams?: string; json?: boolean },
): Promise<number> {
  const root = repoRoot(io, opts.repo);
  const tree = workingTree(root);
  const repo = await loadRepoOrFail(io, tree);
  const cliTeams = await loadTeams(io, opts.teams);
  const dir = `${repo.config.paths.policies}/tests`;
  const testFiles = (await tree.list(dir)).filter((p) => /^[^/]+\.ya?ml$/.test(p.slice(dir.length + 1)));
  if (testFiles.length === 0) throw new ConfigError(`no policy tests found in ${dir}/`);

  const results: TestResult[] = [];
  for (const path of testFiles)
    results.push(...runTestFile(path, (await tree.read(path)) ?? '', repo, cliTeams));
  const passed = results.filter((r) => r.passed).length;
  const failed = results.length - passed;
  if (opts.json) io.stdout(`${JSON.stringify({ tests: results, passed, failed }, null, 2)}\n`);
  else io.stdout(formatResults(io, results, passed, failed));
  return failed > 0 ? EXIT.failed : EXIT.ok;
}

/** Every test of one file, decided against the access repo's policies; the file's teams add to `--teams`. */
function runTestFile(
  path: string,
  text: string,
  repo: AccessRepo,
  cliTeams: Record<string, string[]>,
): TestResult[] {
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
    return {
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
