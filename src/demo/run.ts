// `timebox demo`: the whole life of a request on this machine, with no account and no configuration. A
// throwaway access repo made from the shipped example (policies, their tests, CODEOWNERS) lives on the local
// forge (src/forge: a GitHub double over real git, validated against GitHub's OpenAPI description); an
// embedded PostgreSQL is the production database; `timebox serve` (src/github/server.ts) runs as it would in
// production, receiving signed webhooks. People act through the forge, Timebox answers, and every step checks
// what it claims on the real thing (the check run, the comment, the role in PostgreSQL, the session, git).
// A clock that the demo moves stands in for two hours of waiting.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { pino } from 'pino';
import { simpleGit } from 'simple-git';
import { parse } from 'yaml';
import { renderHtml } from '../audit/html.js';
import { finalizeLedger, foldLedger, type LedgerEvent, prepareChange } from '../core/ledger.js';
import { openWith } from '../creds/seal.js';
import { encodeSshPublicKeyBlob } from '../creds/ssh-keys.js';
import { FakeGitHub, type JsonObject } from '../forge/fake-github.js';
import { type RunningServer, startServer } from '../github/server.js';
import { loadConfig } from '../repo/access-repo.js';
import { cachedHistory } from '../repo/history.js';
import { loadSigningKeys } from '../repo/signing-keys.js';
import { gitRevision } from '../repo/source.js';
import { type DemoPostgres, startDemoPostgres } from './postgres.js';

/** The folder holding the shipped example (policies/, teams.example.yaml, .github/CODEOWNERS, app.yml). */
const ROOT = resolve(import.meta.dirname, '..', '..');
const REPO = 'acme/access';
const APP_ID = 1;
const SECRET = 'timebox-demo-webhook-secret';
const FILE = 'requests/alice/orders-vat.yaml';

/** How the demo reports: a section heading, then steps that succeed (with details) or fail. */
export interface Narrator {
  section(title: string): void;
  step(title: string, ms: number, details: string[]): void;
  failed(title: string, ms: number, error: Error): void;
}

export interface DemoResult {
  ok: boolean;
  steps: { section: string; title: string; ms: number; ok: boolean; details: string[]; error?: string }[];
  events: LedgerEvent[];
  report: string | null;
  ms: number;
}

export interface DemoOptions {
  env: NodeJS.ProcessEnv;
  /** Where the HTML audit report goes (default: a new folder under the system's temp folder). */
  out?: string;
}

class StepFailed extends Error {}

export async function runDemo(narrator: Narrator, opts: DemoOptions): Promise<DemoResult> {
  const started = performance.now();
  const result: DemoResult = { ok: false, steps: [], events: [], report: null, ms: 0 };
  let section = '';
  const step = async (title: string, fn: () => Promise<string[] | undefined>): Promise<void> => {
    const t0 = performance.now();
    try {
      const details = (await fn()) ?? [];
      const ms = performance.now() - t0;
      result.steps.push({ section, title, ms, ok: true, details });
      narrator.step(title, ms, details);
    } catch (err) {
      const ms = performance.now() - t0;
      // One line, whatever the cause said (initdb's, a server's and a parser's messages span several).
      const said = err instanceof Error ? err.message : String(err);
      const error = new Error(said.replace(/\s*\n\s*/g, ' ').trim());
      result.steps.push({ section, title, ms, ok: false, details: [], error: error.message });
      narrator.failed(title, ms, error);
      throw new StepFailed(error.message);
    }
  };
  const heading = (title: string) => {
    section = title;
    narrator.section(title);
  };
  const check = (ok: unknown, message: string): void => {
    if (!ok) throw new Error(message);
  };

  const work = mkdtempSync(join(tmpdir(), 'timebox-demo-'));
  const logs: JsonObject[] = [];
  let db: DemoPostgres | undefined;
  let forge: FakeGitHub | undefined;
  let server: RunningServer | undefined;
  let session: pg.Client | undefined;
  let offset = 0;
  const clock = () => new Date(Date.now() + offset);

  try {
    heading('Setting up: a production database, a forge, and Timebox');
    await step('PostgreSQL with the databases the example policies name', async () => {
      db = await startDemoPostgres(opts.env);
      return [`${db.label}: orders, customers, billing`];
    });
    await step('a local forge with the access repo acme/access', async () => {
      forge = await FakeGitHub.start({ now: clock });
      const files: Record<string, string> = {
        'timebox.yaml': [
          '# Timebox merges approved requests itself.',
          'auto_merge: true',
          '# The audit believes Timebox-* trailers only in merges made by timebox[bot] and signed by the',
          '# forge (GitHub: https://github.com/web-flow.gpg).',
          'audit:',
          '  timebox: ["timebox[bot]"]',
          '  signing_keys: [.github/web-flow.gpg]',
          '',
        ].join('\n'),
        '.github/web-flow.gpg': forge.webFlowKey,
        'policies/qa.yaml': readFileSync(join(ROOT, 'policies/qa.yaml'), 'utf8'),
        'policies/tests/qa.yaml': readFileSync(join(ROOT, 'policies/tests/qa.yaml'), 'utf8'),
        '.github/CODEOWNERS': readFileSync(join(ROOT, '.github/CODEOWNERS'), 'utf8'),
      };
      await forge.createRepo(REPO, { author: 'sam', files });
      const teams = readFileSync(join(ROOT, 'teams.example.yaml'), 'utf8');
      for (const m of teams.matchAll(/^"(@[^"]+)":\s*\[([^\]]*)\]/gm)) {
        forge.setTeam(
          m[1] as string,
          (m[2] as string)
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        );
      }
      for (const login of ['alice', 'bob', 'carol', 'dave', 'erin', 'sam'])
        forge.setPermission(login, 'write');
      return [`${forge.url} (git over HTTP, the REST API, signed webhooks), policies from policies/qa.yaml`];
    });
    const alice = demoKey('alice@demo');
    await step('alice has an SSH key on her account', async () => {
      forge?.setUserKeys('alice', [alice.publicLine]);
      return [`${alice.publicLine.slice(0, 60)}…`];
    });
    await step('timebox serve, installed on the repository as a GitHub App', async () => {
      const f = forge as FakeGitHub;
      const manifest = parse(readFileSync(join(ROOT, 'app.yml'), 'utf8'));
      const privateKey = f.registerManifestApp(APP_ID, 'timebox', manifest);
      f.install(REPO, APP_ID);
      server = await startServer({
        appId: String(APP_ID),
        privateKey,
        webhookSecret: SECRET,
        port: 0,
        host: '127.0.0.1',
        baseUrl: f.url,
        log: pino({ level: 'info' }, sinkInto(logs)),
        sweepIntervalMs: 0,
        now: clock,
        stateDir: join(work, 'state'),
        providerEnv: {
          TIMEBOX_POSTGRES_ORDERS_URL: db?.urls.orders,
          TIMEBOX_POSTGRES_CUSTOMERS_URL: db?.urls.customers,
          TIMEBOX_POSTGRES_BILLING_URL: db?.urls.billing,
          // The example's app-servers (ssh) get a throwaway CA, so that every resource has its target.
          ...demoCa(work),
        },
      });
      return [`webhooks at ${server.url}/api/github/webhooks`];
    });
    const f = forge as FakeGitHub;
    const s = server as RunningServer;
    const deliver = async (event: string, payload: JsonObject) => {
      const d = await f.deliver(`${s.url}/api/github/webhooks`, event, payload, SECRET);
      check(d.status === 200, `the webhook ${event} was refused: ${d.status} ${d.body}`);
    };
    const comments = (pull: number) =>
      f.comments
        .filter(
          (c) =>
            String(c.html_url ?? '').includes(`/pull/${pull}#`) &&
            (c.user as JsonObject | undefined)?.login === 'timebox[bot]',
        )
        .map((c) => String(c.body));
    const lastCheck = () => f.checkRuns.at(-1) as JsonObject | undefined;

    heading('A QA engineer asks for access');
    let pull = 0;
    await step('alice opens a pull request: read-only on orders-db for 2h, because BUG-1234', async () => {
      await f.commit(REPO, {
        branch: 'access/alice-vat',
        author: 'alice',
        files: {
          [FILE]:
            '# yaml-language-server: $schema=../../schemas/request.schema.json\nrequester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1234, EU order totals off by VAT\nticket: BUG-1234\n',
        },
      });
      pull = await f.openPull({
        repo: REPO,
        head: 'access/alice-vat',
        user: 'alice',
        title: 'Read orders-db for BUG-1234',
      });
      await deliver(
        'pull_request',
        await f.webhookPayload('pull_request', 'opened', { repo: REPO, pull, sender: 'alice' }),
      );
      return [`pull request #${pull}, ${FILE}`];
    });
    await step(
      'Timebox checks it: pending, one QA lead must approve, and shows what would be granted',
      async () => {
        check(
          lastCheck()?.conclusion === 'action_required',
          `the check run is ${String(lastCheck()?.conclusion)}`,
        );
        const summary = comments(pull).find((b) => b.includes('timebox:summary')) ?? '';
        check(/pending/.test(summary), 'the comment does not say pending');
        const sql = /```sql\n([\s\S]*?)```/.exec(summary)?.[1] ?? '';
        check(sql.includes('CREATE ROLE'), 'the comment has no permission preview');
        const who = /can approve[^\n]*\n[^\n]*\n[^\n]*?\|\s*([^|\n]*)\|\s*$/m.exec(summary)?.[1]?.trim();
        return [
          `check run "timebox": action required${who ? `; can approve: ${who.replace(/\\/g, '')}` : ''}`,
          ...sql
            .trim()
            .split('\n')
            .slice(0, 3)
            .map((l) => `  ${l.length > 110 ? `${l.slice(0, 107)}…` : l}`),
        ];
      },
    );

    heading('Reviewers');
    await step('bob (QA, not a lead) approves: it does not count', async () => {
      const review = await f.review({ repo: REPO, pull, user: 'bob', state: 'APPROVED' });
      await deliver(
        'pull_request_review',
        await f.webhookPayload('pull_request_review', 'submitted', {
          repo: REPO,
          pull,
          sender: 'bob',
          review,
        }),
      );
      check(lastCheck()?.conclusion === 'action_required', 'the check passed on a wrong approval');
      check(!(await f.pull(REPO, pull)).merged, 'the pull request was merged on a wrong approval');
      return ['still pending: bob is not in @acme/qa-leads'];
    });
    let merge = '';
    await step('carol (QA lead) approves: Timebox merges, naming her in the merge commit', async () => {
      const review = await f.review({ repo: REPO, pull, user: 'carol', state: 'APPROVED' });
      await deliver(
        'pull_request_review',
        await f.webhookPayload('pull_request_review', 'submitted', {
          repo: REPO,
          pull,
          sender: 'carol',
          review,
        }),
      );
      const merged = await f.pull(REPO, pull);
      check(lastCheck()?.conclusion === 'success', `the check run is ${String(lastCheck()?.conclusion)}`);
      check(merged.merged === true, 'the approved pull request was not merged');
      merge = String(merged.merge_commit_sha);
      const message = await simpleGit(f.gitDir(REPO)).raw(['log', '-1', '--format=%B', merge]);
      const trailers = message.split('\n').filter((l) => l.startsWith('Timebox-'));
      check(trailers.includes('Timebox-Approved-By: carol'), 'the merge commit does not name carol');
      return [`merge ${merge.slice(0, 7)}`, ...trailers.map((t) => `  ${t}`)];
    });

    heading('Access begins');
    let url = '';
    let role = '';
    let expiresAt = 0;
    await step('the push reaches Timebox: provenance checked, the role made in PostgreSQL', async () => {
      await deliver('push', await f.webhookPayload('push', { repo: REPO, branch: 'main' }));
      await s.keeper.idle();
      const rows = await adminQuery(
        db?.urls.orders as string,
        `SELECT rolname, rolvaliduntil FROM pg_roles WHERE shobj_description(oid, 'pg_authid') LIKE $1`,
        [`%"file":"${FILE}"%`],
      );
      check(rows.length === 1, `expected one role for ${FILE}, found ${rows.length}`);
      role = String(rows[0]?.rolname);
      const scheduled = s.keeper.scheduler.scheduled().find((x) => x.file === FILE);
      check(scheduled, 'no revocation is scheduled');
      expiresAt = scheduled?.at ?? 0;
      return [`role ${role}, VALID UNTIL ${new Date(rows[0]?.rolvaliduntil as Date).toISOString()}`];
    });
    await step(
      'credentials arrive on the pull request, sealed to alice’s SSH key; her key opens them',
      async () => {
        const granted = comments(pull).find((b) => b.includes('timebox:credentials'));
        check(granted, 'no credentials comment');
        const block = /-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----/.exec(
          granted ?? '',
        );
        check(block, 'no sealed block in the comment');
        check(!granted?.includes('postgresql://'), 'the comment holds the password in clear');
        url = (await openWith(`${block?.[0]}\n`, alice.privatePem)).trim();
        check(url.startsWith(`postgresql://${role}:`), 'the credentials are not a URL for the role');
        return [`${url.replace(/:[^:@/]+@/, ':********@')}`];
      },
    );
    await step('alice connects: a SELECT works, an INSERT is refused (read-only)', async () => {
      session = new pg.Client({ connectionString: url });
      await session.connect();
      session.on('error', () => {});
      const n = (await session.query<{ n: number }>('SELECT count(*)::int AS n FROM orders')).rows[0]?.n;
      check(n === 3, `SELECT returned ${n}`);
      let refused = '';
      try {
        await session.query("INSERT INTO orders VALUES (4, 'ES', 121.00)");
      } catch (err) {
        refused = (err as Error).message;
      }
      check(/read-only/.test(refused), 'the INSERT was not refused');
      return [`SELECT count(*) FROM orders → ${n}`, `INSERT → ${refused}`];
    });

    heading('Two hours later (the demo moves the clock)');
    await step('15 minutes before expiry, alice is reminded on the pull request', async () => {
      offset = expiresAt - 14 * 60_000 - Date.now();
      s.keeper.tick();
      await s.keeper.idle();
      const reminder = comments(pull).find((b) => b.includes('timebox:reminder'));
      check(reminder, 'no reminder');
      return [reminder?.split('\n')[1]?.replace(/\*\*/g, '').replace(/\\/g, '') ?? ''];
    });
    await step('at expiry the role is revoked and alice’s open session is cut', async () => {
      const cut = new Promise<string>((resolveCut) => session?.on('error', (e) => resolveCut(e.message)));
      offset = expiresAt + 50 - Date.now();
      s.keeper.tick();
      await s.keeper.idle();
      const revokedLog = logs.find((l) => typeof l.lateness_ms === 'number' && l.file === FILE);
      const rows = await adminQuery(db?.urls.orders as string, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [
        role,
      ]);
      check(rows.length === 0, 'the role is still there');
      const message = await Promise.race([cut, new Promise<string>((r) => setTimeout(() => r(''), 5000))]);
      check(/terminat/i.test(message), 'the open session was not ended');
      return [
        `role ${role} dropped, ${Math.round(Number(revokedLog?.lateness_ms ?? Number.NaN))} ms after its expiry`,
        `session: ${message}`,
      ];
    });
    await step('the revert pull request removes the request file, with the reason in git', async () => {
      await deliver('push', await f.webhookPayload('push', { repo: REPO, branch: 'main' }));
      await s.keeper.idle();
      const git = simpleGit(f.gitDir(REPO));
      const tree = await git.raw(['ls-tree', '-r', '--name-only', 'main']);
      check(!tree.includes(FILE), `${FILE} is still on main`);
      const message = await git.raw(['log', '-1', '--format=%s%n%b', 'main']);
      check(message.includes('Timebox-Revocation-Reason: expired'), 'the revert does not say why');
      const subject = message.split('\n')[0] ?? '';
      const details = [
        subject,
        ...message
          .split('\n')
          .filter((l) => l.startsWith('Timebox-'))
          .map((l) => `  ${l}`),
      ];
      // What alice ran (pg_stat_statements, read as the role is revoked): in the trailer and the PR.
      if (db?.activity) {
        const activity = /^Timebox-Activity: (.+)$/m.exec(message)?.[1] ?? '';
        check(/\b1 statement\b/.test(activity), `the revert does not say what alice ran: "${activity}"`);
        let body = '';
        for (let n = pull + 1; n <= pull + 5 && !body; n++) {
          const p = await f.pull(REPO, n).catch(() => undefined);
          if (String((p?.head as JsonObject | undefined)?.ref ?? '').startsWith('timebox/revert/'))
            body = String(p?.body ?? '');
        }
        check(body.includes(`Activity: ${activity}`), 'the revert pull request does not say what alice ran');
        details.push(`revert pull request: "Activity: ${activity}"`);
      } else details.push('no activity: pg_stat_statements is not loaded on that server');
      return details;
    });

    heading('The audit trail is git');
    await step(
      'timebox audit reads the history: requested, approved, granted, expired, revoked',
      async () => {
        const clone = join(work, 'clone');
        await simpleGit().clone(f.gitDir(REPO), clone, ['--quiet']);
        const source = await gitRevision(clone, 'HEAD');
        const { config } = await loadConfig(source);
        const { keys } = await loadSigningKeys(source, config);
        const { commits } = await cachedHistory(clone, 'HEAD', config.paths.requests, {
          cache: false,
          prepare: prepareChange(config),
          keys,
        });
        const ledger = finalizeLedger(foldLedger(commits, config), clock());
        result.events = ledger.events.filter((e) => e.file === FILE);
        const types = result.events.map((e) => e.type);
        for (const t of ['requested', 'approved', 'granted', 'expired', 'revoked'])
          check(types.includes(t as LedgerEvent['type']), `the audit has no ${t} event`);
        check(
          result.events.find((e) => e.type === 'approved')?.actor === 'carol',
          'the approval is not carol’s',
        );
        if (db?.activity)
          check(
            result.events.find((e) => e.type === 'revoked')?.activity,
            'the audit does not say what alice ran',
          );
        const out = resolve(opts.out ?? work, 'timebox-demo-audit.html');
        writeFileSync(out, renderHtml({ ...ledger, events: ledger.events }, { generatedAt: clock() }));
        result.report = out;
        return result.events.map((e) =>
          `${e.time}  ${e.type.padEnd(9)}  ${(e.actor ?? '').replace(/ <.*>$/, '').padEnd(13)}  ${e.reason ?? ''}${e.activity ? `; alice ran ${e.activity}` : ''}`.trimEnd(),
        );
      },
    );
    await step('the HTML timeline', async () => [result.report ?? '']);
    result.ok = true;
  } catch (err) {
    if (!(err instanceof StepFailed)) {
      result.steps.push({ section, title: 'unexpected', ms: 0, ok: false, details: [], error: String(err) });
      narrator.failed('unexpected error', 0, err instanceof Error ? err : new Error(String(err)));
    }
    const errors = logs.filter((l) => Number(l.level) >= 50).slice(-3);
    for (const l of errors) narrator.step(`server log: ${String(l.msg)}`, 0, []);
  } finally {
    await session?.end().catch(() => {});
    await server?.close().catch(() => {});
    await forge?.close().catch(() => {});
    await db?.stop().catch(() => {});
    if (!opts.out) {
      // Keep the report; drop the rest (state, clone).
      for (const sub of [
        'state',
        'clone',
        'ssh-ca',
        'ssh-ca.pub',
        'ssh-revoked.krl',
        'ssh-revoked.krl.timebox.json',
      ])
        rmSync(join(work, sub), { recursive: true, force: true });
    } else rmSync(work, { recursive: true, force: true });
  }
  result.ms = performance.now() - started;
  return result;
}

/** A CA for the example's `ca: prod` when ssh-keygen is there (the ssh provider signs with it). */
function demoCa(work: string): Record<string, string> {
  const key = join(work, 'ssh-ca');
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'timebox-demo-ca', '-f', key], {
      stdio: 'ignore',
    });
  } catch {
    return {};
  }
  return { TIMEBOX_SSH_PROD_CA_KEY: key, TIMEBOX_SSH_PROD_KRL: join(work, 'ssh-revoked.krl') };
}

/** An ed25519 key pair as GitHub shows it (public line) and as `timebox creds` reads it (PEM). */
function demoKey(comment: string): { publicLine: string; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(String(publicKey.export({ format: 'jwk' }).x), 'base64url');
  const blob = encodeSshPublicKeyBlob({ type: 'ssh-ed25519', publicKey: new Uint8Array(raw) });
  return {
    publicLine: `ssh-ed25519 ${Buffer.from(blob).toString('base64')} ${comment}`,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function sinkInto(lines: JsonObject[]): Writable {
  return new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        try {
          lines.push(JSON.parse(line) as JsonObject);
        } catch {
          // not JSON: ignore
        }
      }
      done();
    },
  });
}

async function adminQuery(url: string, sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end().catch(() => {});
  }
}
