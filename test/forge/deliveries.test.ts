// The forge double's record of an App's webhook deliveries, as GitHub keeps it: every attempt (refused
// connections and 5xx too), listed newest first with cursor paging, read one by one, and redelivered with the
// same guid and `redelivery: true`; all behind the App's JWT, every response checked against GitHub's
// OpenAPI description (assertClean).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { registerTimeboxApp } from '../helpers/github.js';

const REPO = 'acme/access';
const APP_ID = 7301;
const quiet = (): void => {};
const log = { debug: quiet, info: quiet, warn: quiet, error: quiet };

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver answering `status()`; it records what it got. */
async function receiver(status: () => number): Promise<{ server: Server; url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(status(), { 'content-type': 'text/plain' }).end('answered');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, got };
}

async function closed(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A port nothing listens on (bound, then released). */
async function deadUrl(): Promise<string> {
  const { server, url } = await receiver(() => 200);
  await closed(server);
  return url;
}

describe('the App webhook deliveries of the forge double', () => {
  let fake: FakeGitHub;
  let app: Octokit;
  let payload: JsonObject;

  beforeAll(async () => {
    fake = await FakeGitHub.start();
    const privateKey = registerTimeboxApp(fake, APP_ID);
    await fake.createRepo(REPO, { author: 'admin', files: { 'README.md': 'hi\n' } });
    fake.install(REPO, APP_ID);
    await fake.commit(REPO, { branch: 'feature', author: 'alice', files: { 'a.txt': 'a\n' } });
    await fake.openPull({ repo: REPO, head: 'feature', user: 'alice', title: 'A change' });
    payload = await fake.webhookPayload('pull_request', 'opened', { repo: REPO, pull: 1, sender: 'alice' });
    app = new Octokit({
      authStrategy: createAppAuth,
      auth: { appId: APP_ID, privateKey },
      baseUrl: fake.url,
      log,
    });
  });
  afterAll(async () => {
    fake.assertClean();
    await fake.close();
  });

  it('records refused, 5xx and successful attempts with GitHub’s fields; redelivers with the same guid', async () => {
    const before = fake.hookDeliveries.all.length;
    const refused = await fake.deliver(await deadUrl(), 'pull_request', payload, 's');
    expect(refused.status).toBe(502);
    let answer = 500;
    const r = await receiver(() => answer);
    try {
      const failed = await fake.deliver(r.url, 'pull_request', payload, 's');
      expect(failed.status).toBe(500);
      answer = 202;
      const ok = await fake.deliver(r.url, 'pull_request', payload, 's');
      expect(ok.status).toBe(202);
      expect(fake.hookDeliveries.all.length).toBe(before + 3);

      const { data: listed } = await app.request('GET /app/hook/deliveries', { per_page: 3 });
      expect(listed.map((d) => d.guid)).toEqual([ok.id, failed.id, refused.id]);
      const [okItem, failedItem, refusedItem] = listed;
      expect(okItem).toMatchObject({
        status: 'OK',
        status_code: 202,
        redelivery: false,
        event: 'pull_request',
      });
      expect(okItem?.action).toBe('opened');
      expect(okItem?.installation_id).toBe((payload.installation as JsonObject).id);
      expect(okItem?.repository_id).toBe((payload.repository as JsonObject).id);
      expect(failedItem).toMatchObject({ status: 'Invalid HTTP Response: 500', status_code: 500 });
      expect(refusedItem).toMatchObject({ status: 'failed to connect to host', status_code: 502 });

      const { data: one } = await app.request('GET /app/hook/deliveries/{delivery_id}', {
        delivery_id: Number(failedItem?.id ?? 0),
      });
      expect(one.request.payload).toEqual(payload);
      expect(one.request.headers?.['x-github-delivery']).toBe(failed.id);
      expect(one.response.payload).toBe('answered');

      // Redelivery: 202 at once, then the same body and guid again, recorded as a redelivery.
      const got = r.got.length;
      const { status } = await app.request('POST /app/hook/deliveries/{delivery_id}/attempts', {
        delivery_id: Number(failedItem?.id ?? 0),
      });
      expect(status).toBe(202);
      await fake.hookDeliveries.settled();
      expect(r.got.length).toBe(got + 1);
      expect(r.got[got]?.headers['x-github-delivery']).toBe(failed.id);
      expect(r.got[got]?.body).toBe(JSON.stringify(payload));
      const { data: after } = await app.request('GET /app/hook/deliveries', { per_page: 1 });
      expect(after[0]).toMatchObject({ guid: failed.id, redelivery: true, status: 'OK', status_code: 202 });
    } finally {
      await closed(r.server);
    }
  });

  it('pages by cursor, newest first, with a Link header octokit follows; filters by status', async () => {
    const r = await receiver(() => 200);
    try {
      for (let i = 0; i < 5; i++) await fake.deliver(r.url, 'pull_request', payload, 's');
    } finally {
      await closed(r.server);
    }
    const all = fake.hookDeliveries.ofApp(APP_ID).map((d) => d.id);
    const first = await app.request('GET /app/hook/deliveries', { per_page: 2 });
    expect(first.data.map((d) => d.id)).toEqual(all.slice(0, 2));
    expect(first.headers.link).toMatch(/cursor=v1_\d+.*rel="next"/);
    const paged = await app.paginate('GET /app/hook/deliveries', { per_page: 2 });
    expect(paged.map((d) => d.id)).toEqual(all);
    const { data: failures } = await app.request('GET /app/hook/deliveries?status=failure&per_page=100');
    expect((failures as { status_code: number }[]).map((d) => d.status_code)).toEqual([500, 502]);
    const { data: successes } = await app.request('GET /app/hook/deliveries?status=success&per_page=100');
    const ok = successes as { status_code: number }[];
    expect(ok.every((d) => d.status_code >= 200 && d.status_code < 400)).toBe(true);
    expect(ok.length + (failures as unknown[]).length).toBe(all.length);
  });

  it('needs the App’s JWT; another App sees none of them', async () => {
    const token = new Octokit({ auth: fake.token(), baseUrl: fake.url, log });
    await expect(token.request('GET /app/hook/deliveries')).rejects.toMatchObject({ status: 401 });
    const bare = new Octokit({ baseUrl: fake.url, log });
    await expect(bare.request('GET /app/hook/deliveries')).rejects.toMatchObject({ status: 401 });
    const otherKey = fake.registerManifestApp(APP_ID + 1, 'other', {
      default_permissions: {},
      default_events: [],
    });
    const other = new Octokit({
      authStrategy: createAppAuth,
      auth: { appId: APP_ID + 1, privateKey: otherKey },
      baseUrl: fake.url,
      log,
    });
    expect((await other.request('GET /app/hook/deliveries')).data).toEqual([]);
    const mine = fake.hookDeliveries.ofApp(APP_ID)[0]?.id ?? 0;
    await expect(
      other.request('GET /app/hook/deliveries/{delivery_id}', { delivery_id: mine }),
    ).rejects.toMatchObject({ status: 404 });
    await expect(
      other.request('POST /app/hook/deliveries/{delivery_id}/attempts', { delivery_id: mine }),
    ).rejects.toMatchObject({ status: 404 });
  });
});
