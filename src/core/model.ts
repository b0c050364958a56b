// The plain data the core works on. Everything here is serialisable.
import type { FileError } from './yaml-loader.js';

export interface AccessRequest {
  requester: string;
  resource: string;
  role: string;
  duration?: string;
  until?: string;
  reason: string;
  ticket?: string;
  start?: string;
}

/**
 * A request as read from its file: the fields above (as written) and `emergency` (SPEC "Break-glass"),
 * written `true` or `false` and turned into a boolean by the loader.
 */
export interface ReadRequest extends AccessRequest {
  emergency?: boolean;
}

/** Where something was defined, for messages: `policies/qa.yaml:12`. */
export interface SourceRef {
  file: string;
  line: number;
}

export interface Resource {
  id: string;
  provider: string;
  description?: string;
  /** Provider-specific resource settings (e.g. postgres `connection`). */
  settings: Record<string, unknown>;
  roles: Record<string, Record<string, unknown>>;
  source: SourceRef;
}

export interface HoursSpec {
  days: Weekday[];
  from: string;
  to: string;
  tz: string;
}

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

export interface ApprovalStepSpec {
  from: string[];
  count: number;
  /**
   * An on-call schedule file (`schedules/primary.yaml`, a key of `Policies.schedules`): while the requester is
   * on call in it at the decision time, the step is filled without a human.
   */
  onCall?: string;
}

/** A rule's `break_glass`: emergency requests are approved before their approvals, which must follow. */
export interface BreakGlassSpec {
  /** The longest emergency window (a duration as written, `1h`). */
  maxDuration: string;
  /** How long after the merge the rule's approvals may still be given on the merged PR (`4h`). */
  ratifyWithin: string;
}

export interface Rule {
  name: string;
  effect: 'allow' | 'deny';
  description?: string;
  requesters: string[];
  resources: string[];
  roles: string[] | null;
  maxDuration?: string;
  requireTicket: boolean;
  hours?: HoursSpec;
  approvals: ApprovalStepSpec[];
  breakGlass?: BreakGlassSpec;
  message?: string;
  source: SourceRef;
}

export interface Policies {
  resources: Map<string, Resource>;
  rules: Rule[];
  /**
   * The on-call schedules approval steps name, by repo path, read from the same source as the policies (the
   * base branch, never the PR's). A step naming a schedule missing here is filled by nobody (fails closed).
   */
  schedules?: ReadonlyMap<string, Schedule>;
}

// On-call schedules as read from schedules/*.yaml (src/oncall/load.ts); plain data, so the core can carry them.
// Instants are ms since the epoch; times of day are minutes after local midnight in the schedule's zone.

export interface Restriction {
  days: readonly Weekday[];
  /** Minutes after local midnight. */
  from: number;
  /** Minutes after local midnight; at or before `from`, the window ends the next day (equal: a whole day). */
  to: number;
}

export interface Layer {
  name: string;
  rotation: readonly string[];
  /** One turn, in local calendar days (a week is 7): a turn holds one hand-off time, whatever the DST. */
  turnDays: number;
  /** The hand-off time, in minutes after local midnight. */
  handoff: number;
  /** The first hand-off (ms since the epoch), where `rotation[0]`'s first turn begins. */
  start: number;
  /** Where the layer stops applying (ms since the epoch), or null. */
  end: number | null;
  /** Local windows the layer is limited to; null: it applies at all times. */
  restrict: readonly Restriction[] | null;
}

export interface Override {
  login: string;
  /** ms since the epoch, inclusive. */
  start: number;
  /** ms since the epoch, exclusive. */
  end: number;
}

export interface Schedule {
  /** IANA time zone of every hand-off and restriction. */
  tz: string;
  layers: readonly Layer[];
  overrides: readonly Override[];
}

export interface FileProblem extends FileError {
  file: string;
}

export interface Config {
  auto_merge: boolean;
  pending_ttl: string;
  remind_before: string;
  reconcile_interval: string;
  paths: { requests: string; policies: string };
  connections: Record<string, Record<string, unknown>>;
  /** Which commits' `Timebox-*` trailers the audit believes (docs/audit.md). */
  audit?: AuditConfig;
}

export interface AuditConfig {
  /** Who Timebox merges as: logins (`timebox[bot]`, `github-actions[bot]`) or e-mail addresses. */
  timebox?: string[];
  /** Files in the access repo with the armored OpenPGP keys GitHub signs its merges with (web-flow). */
  signing_keys?: string[];
}

export const DEFAULT_CONFIG: Config = {
  auto_merge: false,
  pending_ttl: '7d',
  remind_before: '15m',
  reconcile_interval: '5m',
  paths: { requests: 'requests', policies: 'policies' },
  connections: {},
};

export type ReviewState = 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED' | 'PENDING';
export type Permission = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

export interface Review {
  login: string;
  state: ReviewState;
  /** The commit the review was made on. */
  commitId: string;
  /** RFC 3339. Reviews are ordered by this, then by their order in the list. */
  submittedAt: string;
  bot?: boolean;
}

/** Facts about the pull request, gathered by the CLI or the GitHub App before deciding. */
export interface PullFacts {
  /** Who opened the PR. Undefined: assume each request's requester (offline `check` without `--author`). */
  author?: string;
  headSha: string;
  reviews: Review[];
  /**
   * Logins that pushed to the PR branch, judged by who pushed (GitHub's log of the branch), plus anyone a commit
   * names as author or committer. Their approvals never count.
   */
  pushers: string[];
  /** Set when who pushed is not fully known (why): then no approval counts at all. */
  pushersUnknown?: string;
  /** Live repository permission per login (lower-case). A login missing here has no write access. */
  permissions: Record<string, Permission>;
  /** Team members per `@org/team` (lower-case). A team missing here does not exist: it matches and approves nobody. */
  teams: Record<string, string[]>;
  /**
   * Logins (any case) with an open `timebox-alarm` issue for an unratified break-glass access: their next
   * emergency request is denied until a code owner of the policies closes it. Gathered by the engine from
   * the open alarm issues; offline `check` knows none.
   */
  unratifiedAlarms?: string[];
}

export type FileStatus = 'added' | 'modified' | 'removed';

export interface ChangedRequestFile {
  path: string;
  status: FileStatus;
  /** The file's text after the change (added, modified). */
  content?: string;
  /** For removals: the text that is removed, and who approved it when it was granted (from the ledger). */
  previous?: { content: string; approvers?: string[] };
}

export type Status = 'approved' | 'pending' | 'denied' | 'invalid';

export interface Reason {
  /** The rule that gives this reason: a policy rule's name, or a built-in `timebox/...` rule. */
  rule: string;
  message: string;
}

export interface StepReport {
  from: string[];
  count: number;
  /** Who approved and counts for this step. */
  approvers: string[];
  /** Known people who could still approve it (team members expanded), when teams are known. */
  candidates: string[];
  /** The step's `on_call` schedule, when it names one. */
  on_call?: string;
  /** Set when the step is met without a human: the requester is on call (the shift that holds the decision time). */
  filled?: OnCallFill;
}

/** Why an `on_call` step is filled: who is on call, in which schedule, layer and shift. */
export interface OnCallFill {
  reason: 'on_call';
  schedule: string;
  login: string;
  /** The layer's name, or `override`. */
  layer: string;
  /** The shift, RFC 3339. */
  from: string;
  to: string;
}

/**
 * A request approved by break-glass (SPEC "Break-glass"): what must follow. The engine checks `ratification`
 * again on the merged PR until `ratify_by`; unratified by then → revoke, open a `timebox-alarm` issue.
 */
export interface BreakGlassReport {
  /** The allow rule whose `break_glass` approved it. */
  rule: string;
  max_duration: string;
  ratify_within: string;
  /** The decision time (the merge, in the App) + `ratify_within`, RFC 3339. */
  ratify_by: string;
  /** The approvals that must ratify it: the rule's steps and the file's CODEOWNERS, as they stand now. */
  ratification: ApprovalReport;
}

export interface ApprovalReport {
  satisfied: boolean;
  steps: StepReport[];
  codeowners: { owners: string[]; satisfied: boolean };
  /** Approvals that do not count, and why. */
  ignored: { login: string; reason: string }[];
}

export interface Window {
  starts_at: string;
  expires_at: string;
}

export interface Decision {
  file: string;
  status: Status;
  /** `added`/`modified` for grants; `removed` for early revocations. */
  change: FileStatus;
  request: ReadRequest | null;
  rule: string | null;
  errors: FileError[];
  reasons: Reason[];
  approvals: ApprovalReport | null;
  window: Window | null;
  /** Present only when the request was approved by break-glass, before its approvals. */
  break_glass?: BreakGlassReport;
}

/**
 * What the core needs of a provider: the schemas that check its settings in policy files. Defined here so
 * the core imports no provider; providers (src/providers) implement it and add granting and revoking.
 */
export interface ProviderDefinition {
  /** The `provider:` value in policies. */
  id: string;
  /** One line for `--help` and docs. */
  summary: string;
  /** JSON Schema (draft-07) for the provider's own keys on a resource (besides provider, description, roles). */
  resourceSchema: object;
  /** JSON Schema (draft-07) for one role's settings. */
  roleSchema: object;
  /**
   * What a schema cannot say about a role whose settings passed `roleSchema` (a key pattern that would
   * reach Timebox's own bookkeeping, an object in a system schema): each problem is located at `path`
   * inside the role's settings (`['keys', 2]`), so `timebox check` reports it at file:line. Pure: no I/O.
   */
  checkRole?(role: Record<string, unknown>, resource: Record<string, unknown>): RoleProblem[];
  /**
   * Whether a role with these settings may change data (true), only read (false), or the provider cannot
   * tell from the settings (null). With the activity captured at revocation it says when write rights went
   * unused ("used versus granted", docs/audit.md). Pure.
   */
  mayWrite?(role: Record<string, unknown>): boolean | null;
}

/** A reason to refuse a role, at a path inside its settings. */
export interface RoleProblem {
  path: (string | number)[];
  message: string;
}
