// Where the notifiers are registered: one list, made per repository. A new channel is one module beside
// forge-notifier.ts and one entry here (or, for a test or a deployment, `extra`).
import type { Forge } from '../forge.js';
import { forgeNotifier } from './forge-notifier.js';
import { type Notices, type Notifier, notices } from './notifier.js';

export type { BreakGlassNotice, Notice, NoticeGrant, NoticeKind, UnratifiedNotice } from './notice.js';
export type { Delivery, Notices, Notifier } from './notifier.js';
export { GLASS_MARK, unratifiedLogin, unratifiedTitle } from './render.js';

/**
 * The notifiers of one repository: the forge's comments and issues first, then any others given (each made for
 * this repository when it says how: `forRepo`).
 */
export function noticesFor(forge: Forge, botLogin: string, extra: readonly Notifier[] = []): Notices {
  return notices([forgeNotifier(forge, botLogin), ...extra.map((n) => n.forRepo?.(forge) ?? n)]);
}
