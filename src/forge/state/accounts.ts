// Accounts: users, bots and organizations, the e-mails their commits link by, their SSH keys, their
// permissions on repositories and their teams.
import type { Clock } from '../../core/clock.js';
import { type AccountType, buildPublicUser, buildUser, type JsonObject, timestamp } from '../builders.js';
import type { Identity } from '../git-store.js';
import type { Author, RepoPermission, RepoState } from './types.js';

const NOREPLY = '@users.noreply.github.com';

function legacyPermission(p: RepoPermission): string {
  if (p === 'maintain') return 'write';
  if (p === 'triage') return 'read';
  return p;
}

/** The root of the forge's data: its clock, its id sequence, and every account. */
export class Accounts {
  readonly #accounts = new Map<string, JsonObject>();
  readonly #emails = new Map<string, string>();
  readonly #permissions = new Map<string, RepoPermission>();
  readonly #teams = new Map<string, string[]>();
  readonly #keys = new Map<string, JsonObject[]>();
  /** Account id → when it was created (`created_at` of the public profile). */
  readonly #created = new Map<number, string>();
  #nextId = 1000;

  constructor(readonly clock: Clock) {}

  /** Now, as the forge stamps what it records. */
  stamp(): string {
    return timestamp(this.clock.now());
  }

  nextId(): number {
    this.#nextId += 1;
    return this.#nextId;
  }

  // ---- accounts -------------------------------------------------------------------------------------------

  /** The account `login` (created on first use; `[bot]` logins are Bots). Logins are case-insensitive. */
  user(login: string, type?: AccountType): JsonObject {
    let account = this.#accounts.get(login.toLowerCase());
    if (!account) {
      account = buildUser(login, this.nextId(), type ?? (login.endsWith('[bot]') ? 'Bot' : 'User'));
      this.#accounts.set(login.toLowerCase(), account);
      this.#created.set(Number(account.id), this.stamp());
      if (account.type !== 'Organization') {
        this.linkEmail(login, `${login}${NOREPLY}`);
        this.linkEmail(login, `${String(account.id)}+${login}${NOREPLY}`);
      }
    }
    return account;
  }

  /** The account with this id, whatever its login is now (`GET /user/{account_id}`). */
  userById(id: number): JsonObject | undefined {
    for (const account of this.#accounts.values()) if (account.id === id) return account;
    return undefined;
  }

  /** The public profile of an account (`GET /users/{username}`, `GET /user/{account_id}`). */
  publicUser(account: JsonObject): JsonObject {
    return buildPublicUser(account, this.#created.get(Number(account.id)) ?? this.stamp());
  }

  /**
   * GitHub's rename: the account `from` is called `to` from now on. What is the account's follows it (its id,
   * reviews, comments, pull requests, issues, team memberships, permissions, SSH keys, commit e-mails); the
   * login `from` is free, and its next use creates another account (someone else taking the name).
   */
  renameUser(from: string, to: string): JsonObject {
    const account = this.#accounts.get(from.toLowerCase());
    if (!account) throw new Error(`renameUser: no account ${from}`);
    if (this.#accounts.has(to.toLowerCase())) throw new Error(`renameUser: the login ${to} is taken`);
    const old = String(account.login);
    const id = Number(account.id);
    // In place: reviews and comments hold this very object, and show the new login as GitHub does.
    Object.assign(account, buildUser(to, id, account.type as AccountType));
    this.#accounts.delete(old.toLowerCase());
    this.#accounts.set(to.toLowerCase(), account);
    const was = (login: string | null | undefined) => login?.toLowerCase() === old.toLowerCase();
    const moved = <V>(map: Map<string, V>, keyOf: (k: string) => string | null) => {
      for (const [k, v] of [...map]) {
        const next = keyOf(k);
        if (next === null) continue;
        map.delete(k);
        map.set(next, v);
      }
    };
    moved(this.#keys, (k) => (was(k) ? to.toLowerCase() : null));
    moved(this.#permissions, (k) => {
      const [scope, login] = k.includes(':') ? (k.split(':') as [string, string]) : [null, k];
      if (!was(login)) return null;
      return (scope ? `${scope}:${to}` : to).toLowerCase();
    });
    for (const [team, members] of this.#teams)
      this.#teams.set(
        team,
        members.map((m) => (was(m) ? to : m)),
      );
    for (const [email, login] of this.#emails) if (was(login)) this.#emails.set(email, to);
    this.linkEmail(to, `${to}${NOREPLY}`);
    this.linkEmail(to, `${id}+${to}${NOREPLY}`);
    return account;
  }

  /** Whether `login` is an account the fake knows (has been used). */
  hasUser(login: string): boolean {
    return this.#accounts.has(login.toLowerCase());
  }

  /** Public SSH keys of `login` as `GET /users/{username}/keys` lists them: `{ id, key }`, comment dropped. */
  setUserKeys(login: string, keys: string[]): void {
    this.user(login);
    this.#keys.set(
      login.toLowerCase(),
      keys.map((line) => {
        const [type, blob] = line.trim().split(/\s+/);
        if (!type || !blob)
          throw new Error(`setUserKeys: not an OpenSSH public key line: ${JSON.stringify(line)}`);
        return { id: this.nextId(), key: `${type} ${blob}` };
      }),
    );
  }

  userKeys(login: string): JsonObject[] {
    return this.#keys.get(login.toLowerCase()) ?? [];
  }

  /** Makes commits with `email` link to `login`, as a verified e-mail on a GitHub account does. */
  linkEmail(login: string, email: string): void {
    this.#emails.set(email.toLowerCase(), login);
  }

  /** The account a commit e-mail links to, or null (GitHub shows unlinked e-mails without an account). */
  userForEmail(email: string): JsonObject | null {
    const login = this.#emails.get(email.toLowerCase());
    return login ? this.user(login) : null;
  }

  /** A login's commit identity: `login <login@users.noreply.github.com>`. */
  identity(author: Author, date?: Date): Identity {
    if (typeof author !== 'string') return { ...author, ...(date ? { date } : {}) };
    const account = this.user(author);
    const login = String(account.login);
    // Bots commit as `<id>+<login>@users.noreply.github.com`, as GitHub Apps do.
    const email = account.type === 'Bot' ? `${String(account.id)}+${login}${NOREPLY}` : `${login}${NOREPLY}`;
    return { name: login, email, ...(date ? { date } : {}) };
  }

  /** Permission of `login` on every repository, or only on `repo` (`owner/name`) when given. */
  setPermission(login: string, permission: RepoPermission, repo?: string): void {
    this.#permissions.set((repo ? `${repo}:${login}` : login).toLowerCase(), permission);
  }

  permissionOf(repo: string, login: string): RepoPermission {
    const owner = repo.split('/')[0]?.toLowerCase();
    if (owner === login.toLowerCase()) return 'admin';
    return (
      this.#permissions.get(`${repo}:${login}`.toLowerCase()) ??
      this.#permissions.get(login.toLowerCase()) ??
      'none'
    );
  }

  /** `'@org/team'` or `'org/team'` → member logins. */
  setTeam(team: string, logins: string[]): void {
    this.#teams.set(team.replace(/^@/, '').toLowerCase(), [...logins]);
  }

  teamMembers(org: string, slug: string): string[] | undefined {
    return this.#teams.get(`${org}/${slug}`.toLowerCase());
  }

  /** OWNER, MEMBER (in a team of the owning organization), COLLABORATOR (has a permission) or NONE. */
  authorAssociation(repo: RepoState, login: string): string {
    if (String(repo.owner.login).toLowerCase() === login.toLowerCase()) return 'OWNER';
    const org = String(repo.owner.login).toLowerCase();
    for (const [team, members] of this.#teams) {
      if (team.startsWith(`${org}/`) && members.some((m) => m.toLowerCase() === login.toLowerCase())) {
        return 'MEMBER';
      }
    }
    return this.permissionOf(repo.fullName, login) === 'none' ? 'NONE' : 'COLLABORATOR';
  }

  collaboratorPermission(repo: RepoState, username: string): JsonObject {
    const permission = this.permissionOf(repo.fullName, username);
    const user = this.user(username);
    return {
      permission: legacyPermission(permission),
      role_name: permission,
      user: {
        ...user,
        permissions: {
          admin: permission === 'admin',
          maintain: ['admin', 'maintain'].includes(permission),
          push: ['admin', 'maintain', 'write'].includes(permission),
          triage: ['admin', 'maintain', 'write', 'triage'].includes(permission),
          pull: permission !== 'none',
        },
        role_name: permission,
      },
    };
  }
}
