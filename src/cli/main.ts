// The `timebox` command line: parse flags, run a command, map outcomes to exit codes. Nothing else.
import { createRequire } from 'node:module';
import { Command, CommanderError, Option, type OptionValues } from 'commander';
import { ConfigError, EXIT, formatProblem, UsageError } from './errors.js';
import { type Io, processIo, requireAccessRepo } from './io.js';
import { SERVE_ENV_HELP } from './serve-help.js';

// Each command's module is imported by its action, not here: `--help` and `check` then load neither
// probot, pg, mysql2, redis, the forge double nor inquirer (`npm run bench:startup` measures it).
// Only the option definitions below are needed to parse flags and print help.

// The installed package's own version (src/cli and dist/cli are both two levels below package.json).
const VERSION: string = createRequire(import.meta.url)('../../package.json').version;

const repoOption = () => new Option('--repo <dir>', 'the access repo').default('.', 'the current directory');
const jsonOption = () => new Option('--json', 'print one JSON document on stdout, nothing else');
/** `--repo` works on every command that reads an access repo; the others say so in their help. */
const NO_REPO =
  '\nThis command reads no access repo: it takes no --repo (paths are relative to the current directory).';

/** What a command's definition needs: the streams and clock its action runs with, and where its exit code goes. */
interface CommandContext {
  io: Io;
  done: (code: number) => void;
}

/** Adds one command (or a group sharing options) to the program: flags, help and a lazily loaded action. */
type AddCommands = (program: Command, ctx: CommandContext) => void;

/** Every command, in the order `timebox --help` lists them. */
const COMMANDS: readonly AddCommands[] = [
  addCheck,
  addVerify,
  addWhatif,
  addNew,
  addStatus,
  addAudit,
  addOncall,
  addReconcile,
  addCreds,
  addDemo,
  addServe,
];

export function buildProgram(io: Io, done: (code: number) => void): Command {
  const program = rootProgram(io);
  for (const add of COMMANDS) add(program, { io, done });
  return program;
}

function rootProgram(io: Io): Command {
  return (
    new Command('timebox')
      .description('Temporary, least-privilege production access granted through pull requests.')
      .version(VERSION)
      .showHelpAfterError('(run with --help for usage)')
      .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
      .exitOverride()
      // Every command that takes --repo reads an access repo: outside one, say so and suggest --repo.
      .hook('preAction', (_, action) => {
        if (!action.options.some((o) => o.long === '--repo')) return;
        if (action.name() === 'check' && action.opts().base) return; // policies come from --base
        const historyOnly = action.name() === 'status' || action.name() === 'audit';
        requireAccessRepo(io, action.opts().repo, action.getOptionValueSource('repo') === 'cli', historyOnly);
      })
  );
}

function addCheck(program: Command, { io, done }: CommandContext): void {
  program
    .command('check')
    .description('decide request files: approved, pending, denied or invalid')
    .argument('[files...]', 'request files (default: every file under requests/)')
    .addOption(repoOption())
    .option(
      '--base <ref>',
      'decide the request files changed since REF, with policies and CODEOWNERS read from REF',
    )
    .option('--author <login>', 'who opens the pull request (default: each request’s requester)')
    .option('--approved-by <logins>', 'comma-separated logins that approved the head commit')
    .option('--teams <file>', 'YAML map of "@org/team" to member logins')
    .option('--at <time>', 'decide at this RFC 3339 time (default: now)')
    .option('--require-approved', 'exit 1 while any request is still pending (for CI gates)')
    .option(
      '--pull-request <number>',
      'with --base: read reviews, pushers, permissions and teams of this PR from the GitHub API ($GITHUB_TOKEN, $GITHUB_REPOSITORY, $GITHUB_API_URL)',
    )
    .option(
      '--head-sha <sha>',
      'with --pull-request: the commit the checked-out files are from (approvals must be of it)',
    )
    .addOption(jsonOption())
    .addHelpText(
      'after',
      '\nExit codes: 0 all approved or pending, 1 a request is denied or invalid, 2 usage or configuration error.\nIn GitHub Actions (GITHUB_ACTIONS=true) results are also written as annotations and to the step summary.',
    )
    .action(async (files: string[], opts) => {
      const { runCheck } = await import('./check.js');
      done(await runCheck(io, files, opts));
    });
}

function addVerify(program: Command, { io, done }: CommandContext): void {
  program
    .command('verify')
    .description('run the policy tests in policies/tests/*.yaml')
    .addOption(repoOption())
    .option('--teams <file>', 'YAML map of "@org/team" to member logins')
    .option('--coverage', 'also report the rules and approval steps no policy test exercises')
    .option('--min <pct>', 'with coverage: exit 1 when rules or approval steps are covered below PCT percent')
    .addOption(jsonOption())
    .addHelpText(
      'after',
      '\nPrints `N passed, N failed` (with --coverage, then the coverage of rules and approval steps and what no test exercises; docs/policy-reference.md#coverage).\nExit codes: 0 all passed, 1 a test failed (or coverage below --min), 2 configuration error.',
    )
    .action(async (opts) => {
      const { runVerify } = await import('./verify.js');
      done(await runVerify(io, opts));
    });
}

function addWhatif(program: Command, { io, done }: CommandContext): void {
  program
    .command('whatif')
    .description(
      'replay every request in history (and the open ones) under the policies at REF and those of the working tree; list what changes',
    )
    .addOption(repoOption())
    .requiredOption('--base <ref>', 'the policies in force (and the branch whose history is replayed)')
    .option('--ref <ref>', 'replay the history of this branch instead of --base')
    .option('--teams <file>', 'YAML map of "@org/team" to member logins')
    .option('--at <time>', 'decide open requests at this RFC 3339 time (default: now)')
    .option(
      '--pull-request <number>',
      'Actions: the policy-change check of this PR (checked out at its head); open request PRs from the API',
    )
    .addOption(jsonOption())
    .addHelpText(
      'after',
      '\nEach merged version is decided at its merge time with the approvals Timebox recorded on its own merge commit\n(docs/whatif.md). Exit codes: 0 done (whether or not anything changes), 2 usage or configuration error.',
    )
    .action(async (opts) => {
      if (opts.pullRequest) {
        const { runWhatifActions } = await import('./github-actions.js');
        return done(await runWhatifActions(io, opts));
      }
      const { runWhatif } = await import('./whatif.js');
      done(await runWhatif(io, opts));
    });
}

function addNew(program: Command, { io, done }: CommandContext): void {
  program
    .command('new')
    .description('scaffold a request file (asks for what is missing when run in a terminal)')
    .addOption(repoOption())
    .option('--requester <login>', 'your GitHub login (default: $GITHUB_ACTOR or `git config github.user`)')
    .option('--resource <id>', 'a resource from the policies')
    .option('--role <name>', 'a role the resource offers')
    .option('--duration <d>', 'how long: 30m, 2h, 1h30m, 1d12h')
    .option('--until <time>', 'or until this RFC 3339 time')
    .option('--start <time>', 'not before this RFC 3339 time')
    .option('--reason <text>', 'why you need it (at least 10 characters)')
    .option('--ticket <ref>', 'ticket reference, e.g. BUG-1234')
    .option('--file <path>', 'where to write it (default: requests/<login>/<date>-<resource>-<role>.yaml)')
    .option(
      '--emergency',
      "break-glass: writes `emergency: true`, so the request is approved at once (before its approvals) under an allow rule with `break_glass`; every notifier is alerted, and the usual approvers must ratify it on the merged pull request within the rule's ratify_within or the access is revoked and an alarm opened. Refused where no rule for the resource and role has break_glass",
    )
    .addOption(jsonOption())
    .action(async (opts) => {
      const { inquirerPrompter, runNew } = await import('./new.js');
      done(await runNew(io, opts, io.isTTY && !opts.json ? await inquirerPrompter() : undefined));
    });
}

function addStatus(program: Command, { io, done }: CommandContext): void {
  program
    .command('status')
    .description(
      'grants active at a time, from the git history of the branch: each with the expiry known then, and ended_at/end_reason (revoked, replaced) when later history ended it early',
    )
    .addOption(repoOption())
    .option('--ref <ref>', 'the branch whose history is the ledger', 'HEAD')
    .option('--at <time>', 'RFC 3339 time (default: now)')
    .option('--no-cache', 'ignore and do not write the ledger cache in .git/timebox/')
    .addOption(jsonOption())
    .action(async (opts) => {
      const { runStatus } = await import('./ledger.js');
      done(await runStatus(io, opts));
    });
}

function addOncall(program: Command, { io, done }: CommandContext): void {
  program
    .command('oncall')
    .description('who is on call (schedules/ in the access repo), their shift and the next hand-offs')
    .argument(
      '[schedule]',
      'a schedule file, or NAME for schedules/NAME.yaml (default: every file in schedules/)',
    )
    .addOption(repoOption())
    .option('--at <time>', 'at this RFC 3339 time (default: now)')
    .option('--next <n>', 'how many hand-offs to list after the current shift', '3')
    .addOption(jsonOption())
    .addHelpText(
      'after',
      '\nExit codes: 0 printed, 2 usage or configuration error (an invalid schedule, at file:line).',
    )
    .action(async (schedule: string | undefined, opts) => {
      const { runOncall } = await import('./oncall.js');
      done(await runOncall(io, { ...opts, schedule }));
    });
}

function addAudit(program: Command, { io, done }: CommandContext): void {
  program
    .command('audit')
    .description('the timeline: requested, approved, granted, extended, revoked, expired')
    .addOption(repoOption())
    .option('--ref <ref>', 'the branch whose history is the ledger', 'HEAD')
    .option('--since <time>', 'only events at or after this RFC 3339 time')
    .option('--until <time>', 'only events at or before this RFC 3339 time')
    .option(
      '--who <login...>',
      "only these people's events: as requester, or as the one who acted (approved, merged, revoked)",
    )
    .option('--team <team...>', 'only events of these teams’ members (with --teams)')
    .option('--teams <file>', 'who is in which team (YAML: team: [logins]), for --team')
    .option('--resource <glob...>', 'only these resources (globs: billing-*)')
    .option('--role <role...>', 'only these roles')
    .option(
      '--type <type...>',
      'only these event types (requested, approved, granted, extended, revoked, expired, break_glass, ratified, unratified)',
    )
    .option(
      '--summary',
      'per resource and role: grants, hours, and how often write rights went unused (a table; JSON with --json)',
    )
    .option(
      '--search <text>',
      'only events whose file, ticket, reason, activity, resource, role or people contain TEXT (any case)',
    )
    .addOption(
      new Option('--format <format>', 'output format; review: an access review of the period in Markdown')
        .choices(['json', 'csv', 'html', 'review'])
        .default('json'),
    )
    .option('--out <file>', 'write to FILE instead of stdout')
    .option('--no-cache', 'ignore and do not write the ledger cache in .git/timebox/')
    .addOption(new Option('--json', 'the same as --format json').conflicts('format'))
    .action(async (opts) => {
      const { runAudit } = await import('./ledger.js');
      done(await runAudit(io, opts));
    });
}

/** `plan`, `apply` and `expire`: one set of options, the reconciler and the sealer loaded when one runs. */
function addReconcile(program: Command, { io, done }: CommandContext): void {
  const reconcileOptions = (cmd: Command) =>
    cmd
      .addOption(repoOption())
      .option(
        '--ref <ref>',
        'the branch whose history (and policies) say what is active (default offline: the default branch, origin/HEAD else main else master, which must be checked out; with GITHUB_TOKEN: HEAD)',
      )
      .option(
        '--at <time>',
        'reconcile as of this RFC 3339 time (default: now); in the future it revokes early what ends before it, and warns first',
      )
      .option(
        '--keys <file>',
        'YAML map of login to SSH public key lines (credentials are sealed to them; default with GITHUB_TOKEN: their keys on GitHub)',
      )
      .option(
        '--teams <file>',
        'with GITHUB_TOKEN: YAML map of "@org/team" to member logins (a workflow token cannot read teams)',
      )
      .option(
        '--offline',
        'ignore GITHUB_TOKEN: trust the default branch’s history (or --ref), no provenance check',
      )
      .option('--no-cache', 'ignore and do not write the ledger cache in .git/timebox/')
      .addOption(jsonOption())
      .addHelpText(
        'after',
        `
With GITHUB_TOKEN and GITHUB_REPOSITORY in the environment (Actions), only grants that an approved, merged
pull request brought in are provisioned (anything else opens a timebox-alarm issue), credentials are sealed
to the requester's SSH keys on GitHub and posted on their pull request (as TIMEBOX_BOT_LOGIN, default
github-actions[bot], whose earlier comments it recognises). Without them (or with --offline), the history
and policies of the default branch are trusted as they are (the output says so), never an unmerged branch
that happens to be checked out: exit 2 unless the default branch is checked out or --ref names the ref.`,
      );

  /** `plan`, `apply` and `expire`: the reconciler and the sealer, loaded when one of them runs. */
  const reconcile = async (opts: OptionValues, extra: OptionValues) => {
    const [{ runApply }, { keysSealer }] = await Promise.all([import('./apply.js'), import('./keys.js')]);
    return runApply(io, { ...opts, ...extra }, await keysSealer(io, opts.keys));
  };
  reconcileOptions(program.command('plan').description('show what apply would grant and revoke')).action(
    async (opts) => done(await reconcile(opts, { dryRun: true })),
  );
  reconcileOptions(
    program
      .command('apply')
      .description('grant what git says is active and missing; revoke what expired or was removed'),
  )
    .option('--dry-run', 'print the plan, change nothing')
    .option('--open-pr', 'with GITHUB_TOKEN: open and merge a revert PR removing each expired request file')
    .option(
      '--creds-dir <dir>',
      'offline, without --json: where each grant’s sealed credentials are written, as <dir>/<request path>.age, mode 0600 (default: .git/timebox-credentials; a directory in the work tree must be git-ignored)',
    )
    .addHelpText(
      'after',
      `
Offline without --json, each new grant's credentials are written sealed (an age file, mode 0600) and stderr
names the file: open it with \`timebox creds FILE\` or \`age -d -i ~/.ssh/id_ed25519 FILE\`. An earlier file
is never overwritten (a re-grant gets FILE.2.age, …). With --json they are in the JSON instead.

Exit codes: 0 done, 1 something failed (an ALARM line says what; revocations are retried next run), 2 usage.`,
    )
    .action(async (opts) => done(await reconcile(opts, {})));
  reconcileOptions(program.command('expire').description('revoke expired and removed access only'))
    .option('--dry-run', 'print the plan, change nothing')
    .option('--open-pr', 'with GITHUB_TOKEN: open and merge a revert PR removing each expired request file')
    .action(async (opts) => done(await reconcile(opts, { only: 'revoke' })));
}

function addCreds(program: Command, { io, done }: CommandContext): void {
  program
    .command('creds')
    .description(
      'open credentials sealed to your SSH key: an age file (offline apply writes them), `apply --json` output, or the credentials comment on a pull request',
    )
    .argument(
      '<file|PR>',
      'the sealed credentials: a file, - for stdin, or a pull request number or URL (needs GITHUB_TOKEN or GH_TOKEN)',
    )
    .option('--identity <key...>', 'SSH private key file(s) (default: ~/.ssh/id_ed25519, ~/.ssh/id_rsa)')
    .addHelpText('after', NO_REPO)
    .action(async (file: string, opts) => {
      const { runCreds } = await import('./creds.js');
      done(await runCreds(io, file, opts));
    });
}

function addDemo(program: Command, { io, done }: CommandContext): void {
  program
    .command('demo')
    .description('the whole life of a request on this machine: no account, no database to set up')
    .option('--out <dir>', 'where to write the HTML audit report (default: a new temporary folder)')
    .addOption(jsonOption())
    .addHelpText(
      'after',
      `
Starts an embedded PostgreSQL (or uses TIMEBOX_DEMO_PG_URL), a local forge standing in for GitHub, and
timebox serve against them; a QA engineer asks for access, reviewers approve, Timebox grants, the clock
moves two hours, Timebox revokes and reverts, and the audit is read back from git. Exit 0 only if every
step verified what it claims.${NO_REPO}`,
    )
    .action(async (opts) => {
      const { runDemoCommand } = await import('./demo.js');
      done(await runDemoCommand(io, opts));
    });
}

function addServe(program: Command, { io, done }: CommandContext): void {
  program
    .command('serve')
    .description('run the GitHub App: check pull requests and keep one summary comment per pull request')
    .addHelpText('after', `${SERVE_ENV_HELP}${NO_REPO}`)
    .action(async () => {
      const { runServe } = await import('./serve.js');
      done(await runServe(io));
    });
}

/** Run the CLI and return the exit code; every expected failure becomes a message, never a stack trace. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.usage;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    return report(io, err);
  }
}

function report(io: Io, err: unknown): number {
  if (err instanceof CommanderError) {
    return err.code === 'commander.helpDisplayed' ||
      err.code === 'commander.version' ||
      err.code === 'commander.help'
      ? EXIT.ok
      : EXIT.usage;
  }
  if (err instanceof ConfigError) {
    io.stderr(`timebox: ${err.message}\n`);
    for (const p of err.problems) io.stderr(`  ${formatProblem(p)}\n`);
    return EXIT.usage;
  }
  // A GitError (src/repo/source.ts) by name: importing its class would load simple-git for every command.
  if (err instanceof UsageError || (err instanceof Error && err.name === 'GitError')) {
    io.stderr(`timebox: ${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof Error && err.name === 'ExitPromptError') {
    io.stderr('timebox: cancelled\n');
    return EXIT.usage;
  }
  io.stderr(
    `timebox: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return EXIT.failed;
}
