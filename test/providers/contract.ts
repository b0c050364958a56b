// The contract every provider keeps, run over each registered provider (contract.test.ts) against its real
// server: idempotent grants, verified revocation, listing after a restart, tags that outlive or lose their
// principal, forged tags, injection in names, the least-privilege admin of its doc, and clear errors. A
// provider brings a fixture (fixtures/<id>.ts): how to reach its server and look at it as an admin.
// What only one provider has (SCRAM, pg policies, Redis reach, the KRL lock, …) stays in its own files.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Grant } from '../../src/core/ledger.js';
import type { Policies } from '../../src/core/model.js';
import { loadPolicies } from '../../src/core/policy.js';
import { reconcileTargets, Targets } from '../../src/providers/reconcile.js';
import type { GrantSpec, ManagedAccess, ProviderEntry, ProviderTarget } from '../../src/providers/types.js';

/** A value outside a provider's schema, on purpose (what a policy that skipped `check` could hold). */
export function outsideSchema<T>(value: unknown): T {
  return value as T;
}

/** Whether `fn` resolves (a login that works, a query that runs). */
export async function succeeds(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch {
    return false;
  }
}

export interface Session {
  alive(): Promise<boolean>;
  close(): Promise<void>;
}

export interface ContractFixture {
  id: string;
  /** Null when the server answers, else why the provider's contract is skipped. */
  unavailable(): Promise<string | null>;
  setup(run: string): Promise<void>;
  teardown(): Promise<void>;
  /** The admin settings the provider reads (`TIMEBOX_<PROVIDER>_<CONNECTION>_URL`, …). */
  env(): NodeJS.ProcessEnv;
  resource(): Record<string, unknown>;
  roleSettings(): Record<string, unknown>;
  publicKeys?(): string[];
  /** What the provider names a principal (every name it creates matches). */
  principal: RegExp;
  /** Whether a secret the provider handed out still opens a new session. */
  canLogin(secret: string): Promise<boolean>;
  /** False when the test server lets any password in (postgres with trust auth): only names are checked. */
  secretsChecked?: boolean;
  /** A live session with the secret, for providers whose revocation ends sessions. */
  openSession?(secret: string): Promise<Session>;
  /** Whether the principal still exists on the target (as the admin sees it, not through the provider). */
  exists(principal: string): Promise<boolean>;
  /** Writes `raw` as the tag of `principal`, as someone with the admin's rights could. */
  writeTag(principal: string, raw: string): Promise<void>;
  /** Tags are kept apart from principals (a tag row, a hash field): one can outlive its principal. */
  tagsApart?: boolean;
  /** The raw tag kept apart for `principal`, or null (providers with `tagsApart`). */
  tagOf?(principal: string): Promise<string | null>;
  /** Removes the tag of `principal` (a grantee who reached it, or someone by hand). */
  eraseTag?(principal: string): Promise<void>;
  /** Makes a principal named as Timebox names them, without a tag; and removes it whatever happens. */
  makeUntagged?(name: string): Promise<void>;
  dropUntagged?(name: string): Promise<void>;
  /** A principal Timebox did not make (root, default, a production role): never listed, never revoked. */
  foreign?: {
    principal: string;
    exists(): Promise<boolean> /** A tag can be written for it. */;
    tag?: boolean;
  };
  /** Tries, with a grantee's secret, to rewrite its own tag (must fail). */
  rewriteOwnTag?(secret: string, principal: string): Promise<unknown>;
  /** The admin of docs/providers/<id>.md, created as written there; `drop` removes it. */
  documentedAdmin?(run: string): Promise<{ env: NodeJS.ProcessEnv; drop(): Promise<void> }>;
  /** What `connect` says without its settings, and with a server that does not answer. */
  missingEnv: RegExp;
  unreachable?: { env: NodeJS.ProcessEnv; message: RegExp };
}

const RESOURCE = 'contract-res';
const ROLE = 'contract-role';
const HOUR = 3_600_000;

/** The contract of one provider; `registry` holds its entry (and whatever else the policies may name). */
export function providerContract(
  entry: ProviderEntry,
  fixture: ContractFixture,
  registry: ReadonlyMap<string, ProviderEntry>,
  unavailable: string | null,
): void {
  const run = randomBytes(4).toString('hex');
  let target: ProviderTarget;
  let n = 0;
  const connect = async (env = fixture.env()) => (await entry.load()).connect(fixture.resource(), env);

  /** A fresh request (its own file, requester and access repo), so the cases never see each other's. */
  const spec = (over: Partial<GrantSpec> = {}): GrantSpec => {
    const who = `u${run}${++n}`;
    const file = `requests/${who}/contract-${run}.yaml`;
    return {
      accessRepoId: `contract-${run}-${n}`,
      file,
      grantId: `${file}@1`,
      requester: who,
      resourceId: RESOURCE,
      resource: fixture.resource(),
      role: ROLE,
      roleSettings: fixture.roleSettings(),
      startsAt: new Date(Date.now() - 60_000),
      expiresAt: new Date(Math.ceil(Date.now() / 1000) * 1000 + HOUR),
      ...(fixture.publicKeys ? { publicKeys: fixture.publicKeys() } : {}),
      ...over,
    };
  };
  const listedFor = async (s: GrantSpec, t = target) => (await t.list()).filter((a) => a.file === s.file);
  const policies = (): Policies => {
    const resource = { provider: entry.id, ...fixture.resource(), roles: { [ROLE]: fixture.roleSettings() } };
    const text = `resources:\n  ${RESOURCE}: ${JSON.stringify(resource)}\nrules:\n  - { name: all, resources: ["*"] }\n`;
    const loaded = loadPolicies([{ path: 'policies/contract.yaml', text }], registry);
    if (loaded.errors.length > 0)
      throw new Error(`contract policy is invalid: ${JSON.stringify(loaded.errors)}`);
    return loaded.policies;
  };
  /** Reconciles the target for `accessRepoId` against `grants`, as `apply` does. */
  const reconcile = async (accessRepoId: string, grants: Grant[] = []) => {
    const p = policies();
    const targets = await Targets.connect(p, fixture.env(), { registry });
    try {
      return await reconcileTargets(targets, {
        grants,
        policies: p,
        accessRepoId,
        at: new Date(),
        sealer: {
          canSeal: () => null,
          seal: async (_login, secret) => secret,
          publicKeys: async () => fixture.publicKeys?.() ?? [],
        },
      });
    } finally {
      await targets.close();
    }
  };
  /** The tag a grant wrote before `owner` was called `accessRepoId` in the code (the wire form is kept). */
  const oldTag = (s: GrantSpec) =>
    JSON.stringify({
      owner: s.accessRepoId,
      file: s.file,
      grant: s.grantId,
      requester: s.requester,
      role: s.role,
      resource: s.resourceId,
      expires: s.expiresAt.toISOString(),
    });

  describe.skipIf(unavailable !== null)(
    `provider contract: ${entry.id}${unavailable ? ` (skipped: ${unavailable})` : ''}`,
    () => {
      beforeAll(async () => {
        await fixture.setup(run);
        target = await connect();
      });
      afterAll(async () => {
        for (const a of (await target?.list()) ?? [])
          if (a.accessRepoId?.startsWith(`contract-${run}-`)) await target.revoke(a).catch(() => {});
        await target?.close();
        await fixture.teardown();
      });

      it('grants access that works, tagged: a new instance lists it after a restart', async () => {
        const s = spec();
        const out = await target.grant(s);
        for (const p of out.principal.split(',')) expect(p).toMatch(fixture.principal);
        expect(out.expiresAt).toBe(s.expiresAt.toISOString());
        expect(await fixture.canLogin(out.secret)).toBe(true);
        const again = await connect();
        const listed = await listedFor(s, again);
        await again.close();
        expect(listed.map((a) => a.principal).join(',')).toBe(out.principal);
        for (const a of listed)
          expect(a).toEqual({
            accessRepoId: s.accessRepoId,
            provider: entry.id,
            resourceId: s.resourceId,
            file: s.file,
            grantId: s.grantId,
            requester: s.requester,
            role: s.role,
            principal: a.principal,
            expiresAt: s.expiresAt.toISOString(),
          });
      });

      it('grantMany and revokeMany (where offered): one outcome per item, in order; a refused one fails alone', async () => {
        if (!target.grantMany || !target.revokeMany) return;
        const specs = [spec(), spec(), spec()];
        const out = await target.grantMany(specs);
        expect(out.map((o) => o.ok)).toEqual([true, true, true]);
        for (const [i, o] of out.entries()) {
          if (!o.ok) continue;
          expect(o.value.expiresAt).toBe(specs[i]?.expiresAt.toISOString());
          expect(await fixture.canLogin(o.value.secret)).toBe(true);
        }
        const held = (await Promise.all(specs.map((s) => listedFor(s)))).flat();
        expect(held.map((a) => a.file)).toEqual(specs.map((s) => s.file));
        const [first, ...rest] = held as [ManagedAccess, ...ManagedAccess[]];
        const foreign = fixture.foreign ? [{ ...first, principal: fixture.foreign.principal }] : [];
        const revoked = await target.revokeMany([first, ...foreign, ...rest]);
        expect(revoked.map((r) => r.ok)).toEqual([true, ...foreign.map(() => false), true, true]);
        for (const s of specs) expect(await listedFor(s)).toEqual([]);
        for (const o of out)
          if (o.ok) for (const p of o.value.principal.split(',')) expect(await fixture.exists(p)).toBe(false);
        if (fixture.foreign) expect(await fixture.foreign.exists()).toBe(true);
      });

      it('granting twice converges on one grant with the new expiry; the first secret stops working', async () => {
        const s = spec();
        const first = await target.grant(s);
        const later = new Date(s.expiresAt.getTime() + HOUR);
        const second = await target.grant({ ...s, grantId: `${s.file}@2`, expiresAt: later });
        const listed = await listedFor(s);
        expect(listed.map((a) => [a.grantId, a.expiresAt])).toEqual(
          listed.map(() => [`${s.file}@2`, later.toISOString()]),
        );
        expect(listed.map((a) => a.principal).join(',')).toBe(second.principal);
        if (fixture.secretsChecked !== false) expect(await fixture.canLogin(first.secret)).toBe(false);
        expect(await fixture.canLogin(second.secret)).toBe(true);
      });

      it('revoking ends sessions, removes the principal, verifies it, and is idempotent', async () => {
        const s = spec();
        const out = await target.grant(s);
        const session = await fixture.openSession?.(out.secret);
        const [access, ...more] = await listedFor(s);
        expect(access).toBeDefined();
        const revoked = await target.revoke(access as ManagedAccess);
        expect(revoked.principal).toBe(access?.principal);
        if (session) {
          expect(revoked.sessionsEnded).toBeGreaterThanOrEqual(1);
          expect(await session.alive()).toBe(false);
          await session.close();
        }
        for (const a of more) await target.revoke(a);
        for (const p of out.principal.split(',')) expect(await fixture.exists(p)).toBe(false);
        expect(await fixture.canLogin(out.secret)).toBe(false);
        expect(await listedFor(s)).toEqual([]);
        if (fixture.tagOf)
          for (const p of out.principal.split(',')) expect(await fixture.tagOf(p)).toBeNull();
        expect((await target.revoke(access as ManagedAccess)).sessionsEnded).toBe(0);
      });

      it('access whose grant git does not have is revoked by reconcile (not in git)', async () => {
        const s = spec();
        const out = await target.grant(s);
        const result = await reconcile(s.accessRepoId);
        expect(result.failures).toEqual([]);
        expect(result.revoked.filter((r) => r.file === s.file)).toEqual(
          out.principal
            .split(',')
            .map((principal) => expect.objectContaining({ principal, reason: 'not in git' })),
        );
        for (const p of out.principal.split(',')) expect(await fixture.exists(p)).toBe(false);
      });

      it("another access repo's access on the same target is left alone (and named apart)", async () => {
        const s = spec();
        const out = await target.grant(s);
        const result = await reconcile(`${s.accessRepoId}-other`);
        expect(result.failures).toEqual([]);
        expect(result.revoked.filter((r) => r.file === s.file)).toEqual([]);
        expect(result.plan.foreign).toBeGreaterThanOrEqual(1);
        for (const p of out.principal.split(',')) expect(await fixture.exists(p)).toBe(true);
        const twin = await target.grant({ ...s, accessRepoId: `${s.accessRepoId}-twin` });
        expect(twin.principal).not.toBe(out.principal);
      });

      it('a tag in the form written before the accessRepoId rename (`owner` on the wire) is recognised and revoked', async () => {
        const s = spec();
        const out = await target.grant(s);
        for (const p of out.principal.split(',')) await fixture.writeTag(p, oldTag(s));
        const listed = await listedFor(s);
        expect(listed.map((a) => a.accessRepoId)).toEqual(listed.map(() => s.accessRepoId));
        const result = await reconcile(s.accessRepoId);
        expect(result.revoked.filter((r) => r.file === s.file).map((r) => r.reason)).toEqual(
          listed.map(() => 'not in git'),
        );
        for (const p of out.principal.split(',')) expect(await fixture.exists(p)).toBe(false);
      });

      it('injection: any requester name gives a safe principal; a name not of its shape is never revoked', async () => {
        const s = spec({ requester: "Robert'); DROP ROLE x; -- ~* +@all >pw" });
        const out = await target.grant(s);
        for (const p of out.principal.split(',')) expect(p).toMatch(fixture.principal);
        for (const a of await listedFor(s)) await target.revoke(a);
        for (const evil of ["x'; DROP USER root; --", 'tb_x" CASCADE', 'tb_a b', '']) {
          await expect(
            target.revoke({ ...untaggedShape(), principal: evil }),
            JSON.stringify(evil),
          ).rejects.toThrow(/unsafe|refusing/);
        }
      });

      const untaggedShape = (): ManagedAccess => ({
        accessRepoId: null,
        provider: entry.id,
        resourceId: RESOURCE,
        file: '',
        grantId: '',
        requester: null,
        role: null,
        principal: '',
        expiresAt: null,
      });

      it.runIf(fixture.foreign)(
        'a forged tag on a principal Timebox did not make is never listed, never revoked',
        async () => {
          const foreign = fixture.foreign as NonNullable<ContractFixture['foreign']>;
          const s = spec();
          if (foreign.tag) await fixture.writeTag(foreign.principal, oldTag(s));
          try {
            expect((await target.list()).map((a) => a.principal)).not.toContain(foreign.principal);
            await expect(
              target.revoke({
                ...untaggedShape(),
                accessRepoId: s.accessRepoId,
                file: s.file,
                grantId: s.grantId,
                principal: foreign.principal,
              }),
            ).rejects.toThrow(/unsafe|refusing/);
            expect(await foreign.exists()).toBe(true);
          } finally {
            if (foreign.tag) await fixture.eraseTag?.(foreign.principal);
          }
        },
      );

      it.runIf(fixture.rewriteOwnTag)(
        'a grantee cannot rewrite its own tag (to look like another repo’s, or a later grant)',
        async () => {
          const s = spec();
          const out = await target.grant(s);
          await expect(fixture.rewriteOwnTag?.(out.secret, out.principal)).rejects.toThrow();
          expect((await listedFor(s)).map((a) => [a.accessRepoId, a.grantId])).toEqual([
            [s.accessRepoId, s.grantId],
          ]);
        },
      );

      it.runIf(fixture.tagsApart)(
        'a tag whose principal is gone (a crash between the two) is dropped by list',
        async () => {
          const s = spec();
          const orphan = `tb_zoe_${run}00`;
          expect(orphan).toMatch(fixture.principal);
          await fixture.writeTag(orphan, oldTag(s));
          expect((await target.list()).map((a) => a.principal)).not.toContain(orphan);
          expect(await fixture.tagOf?.(orphan)).toBeNull();
        },
      );

      it.runIf(fixture.makeUntagged)(
        'a Timebox-named principal without a readable tag is listed untagged, and revoking it works',
        async () => {
          const stray = `tb_mallory_${run}ab`;
          const damaged = `tb_trudy_${run}cd`;
          await fixture.makeUntagged?.(stray);
          await fixture.makeUntagged?.(damaged);
          await fixture.writeTag(damaged, '{"owner": "x"');
          try {
            const listed = (await target.list()).filter(
              (a) => a.principal === stray || a.principal === damaged,
            );
            // Untagged principals are every access repo's business: a reconcile running elsewhere against
            // this server may have revoked one already. Each is listed as untagged, or gone.
            for (const p of [stray, damaged]) {
              const found = listed.find((a) => a.principal === p);
              if (found)
                expect(found).toEqual({ ...untaggedShape(), resourceId: '', principal: p, untagged: true });
              else expect(await fixture.exists(p)).toBe(false);
            }
            for (const a of listed) await target.revoke(a);
            expect(await fixture.exists(stray)).toBe(false);
            expect(await fixture.exists(damaged)).toBe(false);
          } finally {
            await fixture.dropUntagged?.(stray);
            await fixture.dropUntagged?.(damaged);
          }
        },
      );

      it.runIf(fixture.eraseTag)(
        'a principal whose tag was erased is revoked by the next reconcile, whatever access repo runs it',
        async () => {
          const s = spec();
          const out = await target.grant(s);
          await fixture.eraseTag?.(out.principal);
          const result = await reconcile(`another-${s.accessRepoId}`);
          expect(result.failures).toEqual([]);
          // (Unless a reconcile running elsewhere against this server revoked it first: then it is not listed.)
          if (result.actual.some((a) => a.principal === out.principal))
            expect(result.revoked).toContainEqual(
              expect.objectContaining({ principal: out.principal, reason: 'untagged', file: '' }),
            );
          expect(await fixture.exists(out.principal)).toBe(false);
          expect(await fixture.canLogin(out.secret)).toBe(false);
        },
      );

      it.runIf(fixture.documentedAdmin)(
        `the least-privilege admin of docs/providers/${entry.id}.md is enough`,
        async () => {
          const admin = await fixture.documentedAdmin?.(run);
          if (!admin) return;
          try {
            const t = await connect(admin.env);
            try {
              const s = spec();
              const out = await t.grant(s);
              const session = await fixture.openSession?.(out.secret);
              const [access] = await listedFor(s, t);
              expect(access).toBeDefined();
              const revoked = await t.revoke(access as ManagedAccess);
              if (session) {
                expect(revoked.sessionsEnded).toBe(1);
                await session.close();
              }
              expect(await fixture.exists(out.principal)).toBe(false);
              expect(await listedFor(s, t)).toEqual([]);
            } finally {
              await t.close();
            }
          } finally {
            await admin.drop();
          }
        },
      );

      it('missing admin settings or a server that does not answer is a clear error', async () => {
        await expect(connect({})).rejects.toThrow(fixture.missingEnv);
        if (fixture.unreachable)
          await expect(connect(fixture.unreachable.env)).rejects.toThrow(fixture.unreachable.message);
      });
    },
  );
}
