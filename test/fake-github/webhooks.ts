// GitHub webhook signing and delivery, for driving the app's webhook endpoint in tests.
import { createHmac, randomUUID } from 'node:crypto';

/** The `X-Hub-Signature-256` value GitHub sends: `sha256=` + hex HMAC-SHA256 of the raw body. */
export function signWebhook(secret: string, body: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface Delivery {
  id: string;
  status: number;
  body: string;
}

/** POST `payload` to `url` the way GitHub delivers a webhook event. */
export async function deliver(
  url: string,
  event: string,
  payload: unknown,
  secret: string,
): Promise<Delivery> {
  const id = randomUUID();
  const body = JSON.stringify(payload);
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/fake',
      'x-github-event': event,
      'x-github-delivery': id,
      'x-github-hook-id': '1',
      'x-hub-signature-256': signWebhook(secret, body),
    },
    body,
  });
  return { id, status: response.status, body: await response.text() };
}
