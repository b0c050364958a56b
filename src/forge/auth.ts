// Authentication and authorization as GitHub does it for Apps: RS256 app JWTs for the /app endpoints,
// installation tokens (and Actions' GITHUB_TOKEN) carrying fine-grained permissions everywhere else.
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { type AccountType, buildInstallation, buildIntegration, type JsonObject } from './builders.js';

export type Level = 'read' | 'write' | 'admin';
export type Permissions = Record<string, Level>;

/** One permission alternative: the endpoint is allowed when the token has `permission` at `level` or above. */
export type Grant = readonly [permission: string, level: Level];

/**
 * What an endpoint requires: an app JWT, an installation-style token with one of the grants, or nothing at all
 * (public data such as a user's SSH keys: any token or none).
 */
export type Need = { readonly jwt: true } | { readonly anyOf: readonly Grant[] } | { readonly public: true };

const JWT: Need = { jwt: true };
const PUBLIC: Need = { public: true };
const any = (...anyOf: Grant[]): Need => ({ anyOf });

/**
 * The permission each implemented endpoint needs, from GitHub's "Permissions required for GitHub Apps"
 * reference. Every route the fake serves must be listed here (FakeGitHub refuses to register one that is not).
 */
export const ROUTE_PERMISSIONS: Readonly<Record<string, Need>> = {
  'GET /app': JWT,
  'GET /app/installations': JWT,
  'POST /app/installations/{installation_id}/access_tokens': JWT,
  'GET /repos/{owner}/{repo}/installation': JWT,
  'GET /app/hook/deliveries': JWT,
  'GET /app/hook/deliveries/{delivery_id}': JWT,
  'POST /app/hook/deliveries/{delivery_id}/attempts': JWT,

  'GET /repos/{owner}/{repo}/pulls': any(['pull_requests', 'read']),
  'GET /repos/{owner}/{repo}/pulls/{pull_number}': any(['pull_requests', 'read']),
  'GET /repos/{owner}/{repo}/pulls/{pull_number}/files': any(['pull_requests', 'read']),
  'GET /repos/{owner}/{repo}/pulls/{pull_number}/commits': any(['pull_requests', 'read']),
  'GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews': any(['pull_requests', 'read']),
  'GET /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers': any(['pull_requests', 'read']),
  'POST /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers': any(['pull_requests', 'write']),
  'DELETE /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers': any(['pull_requests', 'write']),

  'GET /repos/{owner}/{repo}/git/trees/{tree_sha}': any(['contents', 'read']),
  'GET /repos/{owner}/{repo}/git/blobs/{file_sha}': any(['contents', 'read']),
  'GET /repos/{owner}/{repo}/git/commits/{commit_sha}': any(['contents', 'read']),
  'GET /repos/{owner}/{repo}/commits': any(['contents', 'read']),
  'GET /repos/{owner}/{repo}/contents/{path}': any(['contents', 'read']),

  'GET /repos/{owner}/{repo}/commits/{ref}/check-runs': any(['checks', 'read']),
  'POST /repos/{owner}/{repo}/check-runs': any(['checks', 'write']),
  'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}': any(['checks', 'write']),

  'GET /repos/{owner}/{repo}/issues/{issue_number}/comments': any(
    ['issues', 'read'],
    ['pull_requests', 'read'],
  ),
  'POST /repos/{owner}/{repo}/issues/{issue_number}/comments': any(
    ['issues', 'write'],
    ['pull_requests', 'write'],
  ),
  'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}': any(
    ['issues', 'write'],
    ['pull_requests', 'write'],
  ),

  'GET /repos/{owner}/{repo}/collaborators/{username}/permission': any(['metadata', 'read']),
  'GET /repos/{owner}/{repo}/activity': any(['metadata', 'read']),
  'GET /orgs/{org}/teams/{team_slug}/members': any(['members', 'read']),

  // Merging, provisioning and reverting (issue 6).
  'PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge': any(['contents', 'write']),
  'POST /repos/{owner}/{repo}/pulls': any(['pull_requests', 'write']),
  'PATCH /repos/{owner}/{repo}/pulls/{pull_number}': any(['pull_requests', 'write']),
  'GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls': any(['pull_requests', 'read']),
  'GET /repos/{owner}/{repo}/compare/{basehead}': any(['contents', 'read']),
  'GET /repos/{owner}/{repo}/compare/{base}...{head}': any(['contents', 'read']),

  'POST /repos/{owner}/{repo}/git/blobs': any(['contents', 'write']),
  'POST /repos/{owner}/{repo}/git/trees': any(['contents', 'write']),
  'POST /repos/{owner}/{repo}/git/commits': any(['contents', 'write']),
  'GET /repos/{owner}/{repo}/git/ref/{ref}': any(['contents', 'read']),
  // GitHub also wants `workflows: write` when the ref update brings in changes to .github/workflows (not modelled).
  'POST /repos/{owner}/{repo}/git/refs': any(['contents', 'write']),
  'PATCH /repos/{owner}/{repo}/git/refs/{ref}': any(['contents', 'write']),
  'DELETE /repos/{owner}/{repo}/git/refs/{ref}': any(['contents', 'write']),
  'DELETE /repos/{owner}/{repo}/contents/{path}': any(['contents', 'write']),

  'GET /repos/{owner}/{repo}/issues': any(['issues', 'read']),
  'GET /repos/{owner}/{repo}/issues/{issue_number}': any(['issues', 'read']),
  'POST /repos/{owner}/{repo}/issues': any(['issues', 'write']),
  'PATCH /repos/{owner}/{repo}/issues/{issue_number}': any(['issues', 'write'], ['pull_requests', 'write']),
  'POST /repos/{owner}/{repo}/labels': any(['issues', 'write'], ['pull_requests', 'write']),

  'GET /users/{username}/keys': PUBLIC,
  'GET /users/{username}': PUBLIC,
  'GET /user/{account_id}': PUBLIC,
  // Any installation token may list the repositories it reaches.
  'GET /installation/repositories': any(['metadata', 'read']),
};

const RANK: Record<Level, number> = { read: 1, write: 2, admin: 3 };

export function hasGrant(permissions: Permissions, [permission, level]: Grant): boolean {
  const held = permissions[permission];
  return held !== undefined && RANK[held] >= RANK[level];
}

/** `a` contains every grant of `b`. */
export function covers(a: Permissions, b: Permissions): boolean {
  return Object.entries(b).every(([permission, level]) => hasGrant(a, [permission, level]));
}

/** The `X-Accepted-GitHub-Permissions` header GitHub sends: alternatives separated by `; `. */
export function acceptedPermissionsHeader(need: Need): string | undefined {
  if (!('anyOf' in need)) return undefined;
  return need.anyOf.map(([p, l]) => `${p}=${l}`).join('; ');
}

/** Organization-level permissions: granted by an installation on an organization, never by GITHUB_TOKEN. */
const ORGANIZATION_PERMISSIONS = new Set(['members', 'organization_administration', 'organization_projects']);

/** Keys a workflow's `permissions:` block accepts (hyphens are normalised to underscores). */
const ACTIONS_PERMISSIONS = new Set([
  'actions',
  'attestations',
  'checks',
  'contents',
  'deployments',
  'discussions',
  'issues',
  'metadata',
  'packages',
  'pages',
  'pull_requests',
  'repository_projects',
  'security_events',
  'statuses',
]);

export interface AppIdentity {
  id: number;
  slug: string;
  /** Login of the app's bot user, e.g. `timebox[bot]`. */
  botLogin: string;
  /** The `integration` object (`GET /app`, check runs' `app`). */
  json: JsonObject;
}

/** Whoever a token authenticates: the installation of an app, or a workflow run's GITHUB_TOKEN. */
export interface Principal {
  kind: 'installation' | 'actions' | 'test';
  token: string;
  app: AppIdentity;
  installationId: number | undefined;
  permissions: Permissions;
  /** Repositories (`owner/name`, lower case) the token reaches; undefined means every repository. */
  repositories: Set<string> | undefined;
  /** Accounts (lower case) whose organization endpoints the token reaches; undefined means all. */
  accounts: Set<string> | undefined;
  expiresAt: Date;
}

/** A fresh token in GitHub's format for installation and GITHUB_TOKEN tokens (`ghs_` + 36 base62). */
function newToken(prefix = 'ghs_'): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return prefix + [...randomBytes(36)].map((b) => alphabet[b % alphabet.length]).join('');
}

export type AuthHeader =
  | { kind: 'none' }
  | { kind: 'jwt'; jwt: string }
  | { kind: 'token'; token: string }
  | { kind: 'malformed' };

/** `Authorization: token X`, `Bearer X` (either case); a three-part bearer value is a JWT. */
export function parseAuthorization(header: string | undefined): AuthHeader {
  if (!header) return { kind: 'none' };
  const m = /^(token|bearer)\s+(\S+)\s*$/i.exec(header);
  if (!m?.[2]) return { kind: 'malformed' };
  const value = m[2];
  if (m[1]?.toLowerCase() === 'bearer' && value.split('.').length === 3) return { kind: 'jwt', jwt: value };
  return { kind: 'token', token: value };
}

/** Messages as api.github.com words them. */
export const MESSAGES = {
  requiresAuth: 'Requires authentication',
  badCredentials: 'Bad credentials',
  notAccessible: 'Resource not accessible by integration',
  jwtUndecodable: 'A JSON web token could not be decoded',
  jwtExpired:
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
  jwtTooLong: "'Expiration time' claim ('exp') is too far in the future",
  jwtIssuedInFuture:
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
  jwtIssuer: "'Issuer' claim ('iss') must be an Integer",
  integrationNotFound: 'Integration not found',
} as const;

/** GitHub accepts up to 60 s of clock drift, and an `exp` at most 10 minutes ahead. */
const CLOCK_SLACK_SECONDS = 60;
const MAX_LIFETIME_SECONDS = 10 * 60;

/**
 * Verifies an app JWT: RS256 over `header.payload` with the app's registered public key, `iss` naming the
 * app (number or numeric string), `exp` in the future, `iat` not in the future beyond the slack.
 */
function verifyAppJwt(
  jwt: string,
  publicKeys: ReadonlyMap<number, string>,
  nowSeconds: number,
): { appId: number } | { error: string } {
  const [encodedHeader = '', encodedPayload = '', encodedSignature = ''] = jwt.split('.');
  let header: { alg?: unknown };
  let claims: { iss?: unknown; exp?: unknown; iat?: unknown };
  try {
    header = JSON.parse(Buffer.from(encodedHeader, 'base64url').toString('utf8')) as typeof header;
    claims = JSON.parse(Buffer.from(encodedPayload, 'base64url').toString('utf8')) as typeof claims;
  } catch {
    return { error: MESSAGES.jwtUndecodable };
  }
  if (header === null || typeof header !== 'object' || header.alg !== 'RS256') {
    return { error: MESSAGES.jwtUndecodable };
  }
  if (claims === null || typeof claims !== 'object') return { error: MESSAGES.jwtUndecodable };
  const iss = typeof claims.iss === 'string' && /^\d+$/.test(claims.iss) ? Number(claims.iss) : claims.iss;
  if (typeof iss !== 'number' || !Number.isInteger(iss)) return { error: MESSAGES.jwtIssuer };
  const pem = publicKeys.get(iss);
  if (!pem) return { error: MESSAGES.integrationNotFound };
  const signed = verify(
    'RSA-SHA256',
    Buffer.from(`${encodedHeader}.${encodedPayload}`),
    createPublicKey(pem),
    Buffer.from(encodedSignature, 'base64url'),
  );
  if (!signed) return { error: MESSAGES.jwtUndecodable };
  const { exp, iat } = claims;
  if (typeof iat !== 'number' || iat > nowSeconds + CLOCK_SLACK_SECONDS) {
    return { error: MESSAGES.jwtIssuedInFuture };
  }
  if (typeof exp !== 'number' || exp <= nowSeconds) return { error: MESSAGES.jwtExpired };
  if (exp - nowSeconds > MAX_LIFETIME_SECONDS + CLOCK_SLACK_SECONDS) return { error: MESSAGES.jwtTooLong };
  return { appId: iss };
}

export interface AppConfig {
  id: number;
  slug: string;
  name?: string;
  /** PEM (SPKI or PKCS#1) public key matching the private key the app signs its JWTs with. */
  publicKeyPem: string;
  permissions: Permissions;
  events?: string[];
  /** Login of the account owning the app (default: the slug). */
  owner?: string;
}

interface AppRecord {
  identity: AppIdentity;
  publicKeyPem: string;
  permissions: Permissions;
  events: string[];
}

export interface InstallationRecord {
  id: number;
  app: AppRecord;
  account: JsonObject;
  /** `owner/name`, lower case. */
  repositories: Set<string>;
  permissions: Permissions;
  events: string[];
}

export interface TokenRequest {
  /** Repository names (without owner) to restrict the token to. */
  repositories?: string[];
  permissions?: Permissions;
}

interface Accounts {
  user(login: string, type?: AccountType): JsonObject;
  nextId(): number;
}

/** The Actions app that owns GITHUB_TOKEN (its real id on github.com). */
const ACTIONS_APP_ID = 15368;
const TOKEN_LIFETIME_MS = 60 * 60 * 1000;

/** Registered apps, their installations and every token issued. */
export class AppRegistry {
  readonly #accounts: Accounts;
  readonly #knownPermissions: ReadonlySet<string>;
  readonly #apps = new Map<number, AppRecord>();
  readonly #installations = new Map<number, InstallationRecord>();
  readonly #tokens = new Map<string, Principal>();
  readonly #clock: Clock;
  #actions: AppIdentity | undefined;

  /**
   * `knownPermissions`: the keys of GitHub's `app-permissions` schema. `clock`: what token lifetimes and JWT
   * times are measured against.
   */
  constructor(accounts: Accounts, knownPermissions: ReadonlySet<string>, clock: Clock) {
    this.#accounts = accounts;
    this.#knownPermissions = knownPermissions;
    this.#clock = clock;
  }

  registerApp(config: AppConfig): JsonObject {
    if (this.#apps.has(config.id)) throw new Error(`registerApp: app ${config.id} is already registered`);
    const permissions = this.#checkPermissions(config.permissions);
    createPublicKey(config.publicKeyPem); // fail fast on a malformed key
    const owner = this.#accounts.user(config.owner ?? config.slug, 'Organization');
    const events = [...(config.events ?? [])];
    const json = buildIntegration({
      id: config.id,
      slug: config.slug,
      name: config.name ?? config.slug,
      owner,
      permissions,
      events,
    });
    const identity = { id: config.id, slug: config.slug, botLogin: `${config.slug}[bot]`, json };
    this.#accounts.user(identity.botLogin, 'Bot');
    this.#apps.set(config.id, { identity, publicKeyPem: config.publicKeyPem, permissions, events });
    return json;
  }

  #checkPermissions(input: Permissions): Permissions {
    const out: Permissions = {};
    for (const [key, level] of Object.entries(input)) {
      if (!this.#knownPermissions.has(key)) {
        throw new Error(`unknown GitHub App permission "${key}" (GitHub spells them like pull_requests)`);
      }
      if (!['read', 'write', 'admin'].includes(level)) throw new Error(`bad level "${level}" for ${key}`);
      out[key] = level;
    }
    // Every installation token can read repository metadata.
    out.metadata ??= 'read';
    return out;
  }

  #app(appId?: number): AppRecord {
    const app = appId === undefined ? [...this.#apps.values()].pop() : this.#apps.get(appId);
    if (!app)
      throw new Error(appId === undefined ? 'no app registered: call registerApp first' : `no app ${appId}`);
    return app;
  }

  /** Installs the app on `owner/name` (one installation per account; more repos join it). */
  install(fullName: string, appId?: number): number {
    const app = this.#app(appId);
    const owner = fullName.split('/')[0] ?? '';
    let installation = [...this.#installations.values()].find(
      (i) => i.app === app && String(i.account.login).toLowerCase() === owner.toLowerCase(),
    );
    if (!installation) {
      installation = {
        id: this.#accounts.nextId(),
        app,
        account: this.#accounts.user(owner),
        repositories: new Set(),
        permissions: { ...app.permissions },
        events: [...app.events],
      };
      this.#installations.set(installation.id, installation);
    }
    installation.repositories.add(fullName.toLowerCase());
    return installation.id;
  }

  installation(id: number): InstallationRecord | undefined {
    return this.#installations.get(id);
  }

  /** The installation of `appId` (default: any app) that covers `fullName`. */
  installationFor(fullName: string, appId?: number): InstallationRecord | undefined {
    return [...this.#installations.values()].find(
      (i) =>
        (appId === undefined || i.app.identity.id === appId) && i.repositories.has(fullName.toLowerCase()),
    );
  }

  installationsOf(appId: number): InstallationRecord[] {
    return [...this.#installations.values()].filter((i) => i.app.identity.id === appId);
  }

  installationJson(i: InstallationRecord): JsonObject {
    return buildInstallation({
      id: i.id,
      appId: i.app.identity.id,
      appSlug: i.app.identity.slug,
      account: i.account,
      permissions: i.permissions,
      events: i.events,
    });
  }

  app(appId: number): AppIdentity | undefined {
    return this.#apps.get(appId)?.identity;
  }

  /** `POST /app/installations/{id}/access_tokens`: a token with the installation's permissions, or fewer. */
  mintInstallationToken(
    installation: InstallationRecord,
    request: TokenRequest = {},
  ): { principal: Principal } | { error: string } {
    const permissions = request.permissions ? { ...request.permissions } : { ...installation.permissions };
    if (!covers(installation.permissions, permissions)) {
      return { error: 'The permissions requested are not granted to this installation.' };
    }
    permissions.metadata ??= 'read';
    const owner = String(installation.account.login).toLowerCase();
    let repositories = new Set(installation.repositories);
    if (request.repositories) {
      const wanted = request.repositories.map((name) => `${owner}/${name.toLowerCase()}`);
      if (wanted.some((r) => !installation.repositories.has(r))) {
        return {
          error:
            'There is at least one repository that does not exist or is not accessible to the parent installation.',
        };
      }
      repositories = new Set(wanted);
    }
    const principal = this.#issue({
      kind: 'installation',
      app: installation.app.identity,
      installationId: installation.id,
      permissions,
      repositories,
      accounts: new Set([owner]),
    });
    return { principal };
  }

  /** A workflow run's GITHUB_TOKEN for `fullName`, with a `permissions:` block's grants. */
  actionsToken(fullName: string, permissions: Record<string, Level | 'none'>): string {
    const granted: Permissions = { metadata: 'read' };
    for (const [raw, level] of Object.entries(permissions)) {
      const key = raw.replace(/-/g, '_');
      if (!ACTIONS_PERMISSIONS.has(key)) {
        throw new Error(
          `actionsToken: GITHUB_TOKEN cannot have "${raw}"` +
            (ORGANIZATION_PERMISSIONS.has(key) ? ' (organization permissions need a GitHub App)' : ''),
        );
      }
      if (level !== 'none') granted[key] = level;
    }
    this.#actions ??= {
      id: ACTIONS_APP_ID,
      slug: 'github-actions',
      botLogin: 'github-actions[bot]',
      json: buildIntegration({
        id: ACTIONS_APP_ID,
        slug: 'github-actions',
        name: 'GitHub Actions',
        owner: this.#accounts.user('github', 'Organization'),
        permissions: {},
        events: [],
      }),
    };
    this.#accounts.user('github-actions[bot]', 'Bot');
    return this.#issue({
      kind: 'actions',
      app: this.#actions,
      installationId: undefined,
      permissions: granted,
      repositories: new Set([fullName.toLowerCase()]),
      accounts: new Set(),
    }).token;
  }

  /**
   * A token for tests that only need to get through: every repository and organization, acting as the
   * last registered app (or a default `timebox` app), with `permissions` (default: all the fake serves).
   */
  testToken(permissions?: Permissions): string {
    const app = [...this.#apps.values()].pop()?.identity ?? this.#defaultApp();
    return this.#issue({
      kind: 'test',
      app,
      installationId: undefined,
      permissions: {
        ...(permissions ?? {
          checks: 'write',
          contents: 'write',
          issues: 'write',
          pull_requests: 'write',
          members: 'read',
        }),
        metadata: 'read',
      },
      repositories: undefined,
      accounts: undefined,
    }).token;
  }

  #defaultApp(): AppIdentity {
    const json = buildIntegration({
      id: 1,
      slug: 'timebox',
      name: 'Timebox',
      owner: this.#accounts.user('timebox', 'Organization'),
      permissions: {},
      events: [],
    });
    this.#accounts.user('timebox[bot]', 'Bot');
    return { id: 1, slug: 'timebox', botLogin: 'timebox[bot]', json };
  }

  #issue(p: Omit<Principal, 'token' | 'expiresAt'>): Principal {
    const principal = {
      ...p,
      token: newToken(),
      expiresAt: new Date(this.#clock.nowMs() + TOKEN_LIFETIME_MS),
    };
    this.#tokens.set(principal.token, principal);
    return principal;
  }

  /** The principal of a live token; undefined for unknown or expired tokens. */
  principal(token: string): Principal | undefined {
    const principal = this.#tokens.get(token);
    return principal && principal.expiresAt.getTime() > this.#clock.nowMs() ? principal : undefined;
  }

  /** Expires every token issued so far (as if an hour had passed). */
  expireTokens(): void {
    for (const principal of this.#tokens.values()) principal.expiresAt = new Date(0);
  }

  verifyJwt(jwt: string): { app: AppIdentity } | { error: string } {
    const keys = new Map([...this.#apps].map(([id, app]) => [id, app.publicKeyPem]));
    const result = verifyAppJwt(jwt, keys, Math.floor(this.#clock.nowMs() / 1000));
    if ('error' in result) return result;
    return { app: this.#app(result.appId).identity };
  }
}
