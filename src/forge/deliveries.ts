// The deliveries of an App's webhook, as GitHub records them (`GET /app/hook/deliveries`): every attempt the
// forge makes to the App's webhook URL, successful or not (connection refused, 5xx), with GitHub's fields
// (status, status_code, guid, redelivery, delivered_at, event, action, …) and what was sent and answered. A
// redelivery (`POST /app/hook/deliveries/{id}/attempts`) sends the same payload again with the same
// `X-GitHub-Delivery` guid, recorded as a new delivery with `redelivery: true`.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { type JsonObject, timestamp } from './builders.js';
import { type DeliveryOptions, webhookHeaders } from './webhooks.js';

export interface HookDelivery {
  id: number;
  guid: string;
  deliveredAt: string;
  redelivery: boolean;
  /** Seconds. */
  duration: number;
  /** `OK`, `Invalid HTTP Response: 503`, `failed to connect to host`. */
  status: string;
  /**
   * The receiver's HTTP status; 502 when none came (could not connect), as GitHub's description pairs
   * `failed to connect` with 502 (so `status=failure` lists it).
   */
  statusCode: number;
  event: string;
  action: string | null;
  installationId: number | null;
  repositoryId: number | null;
  /** The App whose webhook it is (the listing shows each App its own). */
  appId: number;
  url: string;
  request: { headers: Record<string, string>; payload: JsonObject };
  response: { headers: Record<string, string> | null; payload: string | null };
  /** What a redelivery needs to send the same request again. */
  readonly secret: string;
  readonly options: DeliveryOptions;
}

export interface SendInput {
  appId: number;
  url: string;
  event: string;
  payload: JsonObject;
  secret: string;
  options: DeliveryOptions;
  redelivery?: boolean;
}

export class HookDeliveries {
  /** Oldest first. */
  readonly all: HookDelivery[] = [];
  readonly #pending = new Set<Promise<unknown>>();

  constructor(
    readonly clock: Clock,
    readonly nextId: () => number,
  ) {}

  /** POSTs the payload to the webhook URL and records the attempt, whatever came of it (never rejects). */
  async send(input: SendInput): Promise<HookDelivery> {
    const guid = input.options.guid ?? randomUUID();
    const options = { ...input.options, guid };
    const body = JSON.stringify(input.payload);
    const headers = webhookHeaders(input.event, guid, body, input.secret, options);
    const started = this.clock.nowMs();
    const deliveredAt = timestamp(this.clock.now());
    let statusCode = 502;
    let status = 'failed to connect to host';
    let response: HookDelivery['response'] = { headers: null, payload: null };
    try {
      const res = await fetch(input.url, { method: 'POST', headers, body });
      statusCode = res.status;
      status = res.ok ? 'OK' : `Invalid HTTP Response: ${res.status}`;
      response = { headers: Object.fromEntries(res.headers.entries()), payload: await res.text() };
    } catch {
      // Connection refused, reset, or a body cut short: GitHub records the attempt as failed.
    }
    const p = input.payload as {
      action?: unknown;
      installation?: { id?: unknown };
      repository?: { id?: unknown };
    };
    const delivery: HookDelivery = {
      id: this.nextId(),
      guid,
      deliveredAt,
      redelivery: input.redelivery === true,
      duration: Math.max(this.clock.nowMs() - started, 0) / 1000,
      status,
      statusCode,
      event: input.event,
      action: typeof p.action === 'string' ? p.action : null,
      installationId: typeof p.installation?.id === 'number' ? p.installation.id : null,
      repositoryId: typeof p.repository?.id === 'number' ? p.repository.id : null,
      appId: input.appId,
      url: input.url,
      request: { headers, payload: input.payload },
      response,
      secret: input.secret,
      options,
    };
    this.all.push(delivery);
    return delivery;
  }

  /** The App's deliveries, newest first (as GitHub lists them). */
  ofApp(appId: number): HookDelivery[] {
    return this.all.filter((d) => d.appId === appId).reverse();
  }

  find(appId: number, id: number): HookDelivery | undefined {
    return this.all.find((d) => d.appId === appId && d.id === id);
  }

  /** Queues a redelivery of `d` (GitHub answers 202 and delivers afterwards); `settled` waits for it. */
  redeliver(d: HookDelivery): void {
    const sending = this.send({
      appId: d.appId,
      url: d.url,
      event: d.event,
      payload: d.request.payload,
      secret: d.secret,
      options: d.options,
      redelivery: true,
    });
    this.#pending.add(sending);
    void sending.finally(() => this.#pending.delete(sending));
  }

  /** Resolves once every queued redelivery has been attempted and recorded. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}

/** A delivery as `GET /app/hook/deliveries` lists it (hook-delivery-item). */
export function deliveryItemJson(d: HookDelivery): JsonObject {
  return {
    id: d.id,
    guid: d.guid,
    delivered_at: d.deliveredAt,
    redelivery: d.redelivery,
    duration: d.duration,
    status: d.status,
    status_code: d.statusCode,
    event: d.event,
    action: d.action,
    installation_id: d.installationId,
    repository_id: d.repositoryId,
    throttled_at: null,
  };
}

/** A delivery with its request and response (hook-delivery). */
export function deliveryJson(d: HookDelivery): JsonObject {
  return {
    ...deliveryItemJson(d),
    url: d.url,
    request: { headers: d.request.headers, payload: d.request.payload },
    response: { headers: d.response.headers, payload: d.response.payload },
  };
}
