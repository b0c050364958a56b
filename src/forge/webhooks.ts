// GitHub webhook signing, delivery, and validation of payloads against GitHub's official webhook
// description (@octokit/openapi-webhooks, OpenAPI 3.1 = JSON Schema 2020-12).
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { SPEC_AJV_OPTIONS } from './openapi.js';

/** The `X-Hub-Signature-256` value GitHub sends: `sha256=` + hex HMAC-SHA256 of the raw body. */
export function signWebhook(secret: string, body: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface Delivery {
  id: string;
  status: number;
  body: string;
}

export interface DeliveryOptions {
  /** `X-GitHub-Hook-ID` (default 1). */
  hookId?: number | string;
  /** `X-GitHub-Hook-Installation-Target-Type`: `integration` for a GitHub App's webhook (default). */
  targetType?: string;
  /** `X-GitHub-Hook-Installation-Target-ID`: the app id for an app's webhook (default 1). */
  targetId?: number | string;
  /** `X-GitHub-Delivery` (default: a fresh UUID; a redelivery sends the original's again). */
  guid?: string;
}

/** The headers GitHub sends with a webhook delivery of `body` (already serialised). */
export function webhookHeaders(
  event: string,
  guid: string,
  body: string,
  secret: string,
  options: DeliveryOptions = {},
): Record<string, string> {
  return {
    accept: '*/*',
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/fake',
    'x-github-event': event,
    'x-github-delivery': guid,
    'x-github-hook-id': String(options.hookId ?? 1),
    'x-github-hook-installation-target-type': options.targetType ?? 'integration',
    'x-github-hook-installation-target-id': String(options.targetId ?? 1),
    'x-hub-signature': `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`,
    'x-hub-signature-256': signWebhook(secret, body),
  };
}

/**
 * POST `payload` to `url` the way GitHub delivers a webhook event (no validation, nothing recorded: see
 * FakeGitHub.deliver). Rejects when the receiver cannot be reached.
 */
export async function deliver(
  url: string,
  event: string,
  payload: unknown,
  secret: string,
  options: DeliveryOptions = {},
): Promise<Delivery> {
  const id = options.guid ?? randomUUID();
  const body = JSON.stringify(payload);
  const response = await fetch(url, {
    method: 'POST',
    headers: webhookHeaders(event, id, body, secret, options),
    body,
  });
  return { id, status: response.status, body: await response.text() };
}

// ---- validation ---------------------------------------------------------------------------------------------

const WEBHOOKS_ID = 'https://fake-github.test/webhooks.json';

interface WebhooksDocument {
  components: { schemas: Record<string, unknown> };
}

let ajv: Ajv2020 | undefined;
let schemaNames: Set<string> | undefined;
const validators = new Map<string, ValidateFunction>();

function webhookAjv(): { ajv: Ajv2020; names: Set<string> } {
  if (!ajv || !schemaNames) {
    const require = createRequire(import.meta.url);
    const file = require.resolve('@octokit/openapi-webhooks/generated/api.github.com.json');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as WebhooksDocument;
    ajv = new Ajv2020(SPEC_AJV_OPTIONS);
    addFormats.default(ajv);
    // GitHub's own payloads carry bot e-mails such as `41898282+github-actions[bot]@users.noreply.github.com`,
    // which ajv-formats' RFC 5322 subset refuses: accept any `local@domain` without spaces.
    ajv.addFormat('email', /^[^\s@]+@[^\s@]+\.[^\s@]+$/);
    // `#/components/schemas/...` references resolve against this document.
    ajv.addSchema({ $id: WEBHOOKS_ID, components: doc.components }, undefined, undefined, false);
    schemaNames = new Set(Object.keys(doc.components.schemas));
  }
  return { ajv, names: schemaNames };
}

/** `pull_request` + `ready_for_review` → `webhook-pull-request-ready-for-review`. */
function webhookSchemaName(event: string, action?: string): string {
  return ['webhook', event, action]
    .filter((part): part is string => part !== undefined)
    .join('-')
    .replace(/_/g, '-');
}

/** Ajv's errors (as `path message` lines) for a payload that does not match GitHub's webhook schema. */
export function webhookErrors(event: string, action: string | undefined, payload: unknown): string[] {
  const name = webhookSchemaName(event, action);
  let validate = validators.get(name);
  if (!validate) {
    const { ajv, names } = webhookAjv();
    if (!names.has(name)) return [`GitHub's webhook description has no ${name} schema`];
    validate = ajv.compile({ $ref: `${WEBHOOKS_ID}#/components/schemas/${name}` });
    validators.set(name, validate);
  }
  if (validate(payload)) return [];
  return (validate.errors ?? []).map((e) => {
    const extra = e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : '';
    return `${e.instancePath || '/'} ${e.message ?? e.keyword}${extra}`;
  });
}

/** Throws with the validator's errors when `payload` is not what GitHub would send for `event`.`action`. */
export function assertWebhookPayload(event: string, action: string | undefined, payload: unknown): void {
  const errors = webhookErrors(event, action, payload);
  if (errors.length > 0) {
    throw new Error(
      `${event}${action ? `.${action}` : ''} payload does not match GitHub's webhook description:\n  ${errors.join('\n  ')}`,
    );
  }
}
