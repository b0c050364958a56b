// One access repo, every provider: `timebox apply` grants PostgreSQL, MariaDB, Redis and SSH access from the
// same history, seals each credential for its requester, and `timebox expire` revokes all of them.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MYSQL_URL, mysqlUnavailable } from '../helpers/mysql.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { REDIS_URL, redisUnavailable } from '../helpers/redis.js';
import { run, tempDir, write } from '../helpers/repo.js';

const unavailable = (await redisUnavailable()) ?? (await mysqlUnavailable());
let db: TestDatabase;

describe.skipIf(unavailable !== null)(
  `timebox apply with postgres, mysql, redis and ssh${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    beforeAll(async () => {
      db = await createTestDatabase();
    });
    afterAll(async () => {
      await db?.drop();
    });

    it('grants all four from one repo, each credential opens, and expire revokes them', async () => {
      const dir = tempDir();
      const prefix = `t${randomBytes(4).toString('hex')}`;
      const git = (...args: string[]) =>
        execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@example.com', ...args], { cwd: dir });
      git('init', '-q', '-b', 'main');
      write(
        dir,
        'policies/prod.yaml',
        `resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [${db.readRole}], read_only: true }
  shop-db:
    provider: mysql
    connection: shop
    roles:
      read-only: { privileges: [SELECT], on: ["${prefix}.*"] }
  app-servers:
    provider: ssh
    ca: prod
    roles:
      shell: { principals: [deploy] }
  orders-cache:
    provider: redis
    connection: cache
    roles:
      read-only: { keys: ["${prefix}:*"], commands: ["+@read"] }
rules:
  - { name: all, resources: ["*"] }
`,
      );
      const reason = 'reason: Reproduce BUG-1234 in prod\n';
      write(
        dir,
        'requests/alice/db.yaml',
        `requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\n${reason}`,
      );
      write(
        dir,
        'requests/alice/cache.yaml',
        `requester: alice\nresource: orders-cache\nrole: read-only\nduration: 2h\n${reason}`,
      );
      write(
        dir,
        'requests/alice/shop.yaml',
        `requester: alice\nresource: shop-db\nrole: read-only\nduration: 2h\n${reason}`,
      );
      write(
        dir,
        'requests/alice/shell.yaml',
        `requester: alice\nresource: app-servers\nrole: shell\nduration: 2h\n${reason}`,
      );
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', join(dir, 'id')]);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ca', '-f', join(dir, 'ca')]);
      write(dir, 'keys.yaml', `alice:\n  - ${readFileSync(join(dir, 'id.pub'), 'utf8').trim()}\n`);
      git('add', 'policies', 'requests');
      git('commit', '-q', '-m', 'grant');
      const env = {
        TIMEBOX_POSTGRES_ORDERS_URL: db.url,
        TIMEBOX_REDIS_CACHE_URL: REDIS_URL,
        TIMEBOX_MYSQL_SHOP_URL: MYSQL_URL,
        TIMEBOX_SSH_PROD_CA_KEY: join(dir, 'ca'),
        TIMEBOX_SSH_PROD_KRL: join(dir, 'revoked.krl'),
      };

      const applied = await run(['apply', '--keys', 'keys.yaml', '--json'], { cwd: dir, env });
      expect(applied.code, applied.stderr).toBe(0);
      const granted = JSON.parse(applied.stdout).granted as {
        file: string;
        provider: string;
        credentials: string;
      }[];
      expect(granted.map((g) => `${g.provider} ${g.file}`).sort()).toEqual([
        'mysql requests/alice/shop.yaml',
        'postgres requests/alice/db.yaml',
        'redis requests/alice/cache.yaml',
        'ssh requests/alice/shell.yaml',
      ]);
      const open = (g: { credentials: string }) =>
        execFileSync('age', ['-d', '-i', join(dir, 'id')], { input: g.credentials, encoding: 'utf8' }).trim();
      const cert = open(granted.find((g) => g.provider === 'ssh') as { credentials: string });
      expect(cert).toMatch(/^ssh-ed25519-cert-v01@openssh\.com /);
      writeFileSync(join(dir, 'cert.pub'), `${cert}\n`);
      const shown = execFileSync('ssh-keygen', ['-L', '-f', join(dir, 'cert.pub')], { encoding: 'utf8' });
      expect(shown).toContain('Key ID: "requests/alice/shell.yaml"');
      expect(shown).toMatch(/Principals:\s+deploy/);
      expect(open(granted.find((g) => g.provider === 'mysql') as { credentials: string })).toMatch(
        new RegExp(`^mysql://tb_alice_[0-9a-f]{10}:[^@]+@127\\.0\\.0\\.1:3306/${prefix}$`),
      );
      const cacheUrl = open(granted.find((g) => g.provider === 'redis') as { credentials: string });
      expect(open(granted.find((g) => g.provider === 'postgres') as { credentials: string })).toMatch(
        /^postgresql:\/\//,
      );
      const c = createClient({ url: cacheUrl, socket: { reconnectStrategy: false } });
      c.on('error', () => {});
      await c.connect();
      expect(await c.get(`${prefix}:x`)).toBeNull();
      await expect(c.set(`${prefix}:x`, '1')).rejects.toThrow(/NOPERM/);

      const later = new Date(Date.now() + 3 * 3_600_000).toISOString();
      const expired = await run(['expire', '--at', later, '--json'], { cwd: dir, env });
      expect(expired.code, expired.stderr).toBe(0);
      const revoked = JSON.parse(expired.stdout).revoked as { provider: string; reason: string }[];
      expect(revoked.map((r) => `${r.provider} ${r.reason}`).sort()).toEqual([
        'mysql expired',
        'postgres expired',
        'redis expired',
        'ssh expired',
      ]);
      await expect(c.ping()).rejects.toThrow();
      // ssh-keygen -Q exits 1 for a revoked key, and says so.
      const q = spawnSync('ssh-keygen', ['-Q', '-f', join(dir, 'revoked.krl'), join(dir, 'cert.pub')], {
        encoding: 'utf8',
      });
      expect(q.stdout).toContain('REVOKED');
      if (c.isOpen) c.destroy();
    }, 60_000);
  },
);
