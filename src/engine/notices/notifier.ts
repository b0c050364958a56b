// Notifiers deliver notices; the engine emits each notice once, through `Notices`. To add a channel (chat,
// mail): implement `Notifier` in its own module and add it where the list is made (`noticesFor`, ./index.ts).
import type { Forge } from '../forge.js';
import type { Notice } from './notice.js';
import { type Rendered, renderNotice } from './render.js';

/** What delivering did, as far as the forge is concerned (the engine reports it). */
export interface Delivery {
  commentId?: number;
  /** Whether a comment was created or its text changed. */
  changed?: boolean;
  /** Whether a comment was posted now (false: one with its marker was there). */
  posted?: boolean;
  /** The alarm issue opened now (null: one with the same title is open). */
  issue?: number | null;
  /** The alarm issue closed now (null: none was open). */
  closed?: number | null;
}

export interface Notifier {
  readonly name: string;
  notify(notice: Notice, rendered: Rendered): Promise<Delivery | undefined>;
  /**
   * The notifier for one repository, when what it does depends on the repository (the channels routed by its
   * timebox.yaml `notify:`): `noticesFor` calls it with the repository's forge. Called per list made, so it
   * should be cheap (state kept per repository by the notifier itself).
   */
  forRepo?(forge: Forge): Notifier;
}

export interface Notices {
  /** Renders the notice once and hands it to every notifier in order; the first one's delivery is returned. */
  emit(notice: Notice): Promise<Delivery>;
}

export function notices(notifiers: readonly Notifier[]): Notices {
  return {
    async emit(notice) {
      const rendered = renderNotice(notice);
      let first: Delivery | undefined;
      for (const [i, n] of notifiers.entries()) {
        const d = await n.notify(notice, rendered);
        if (i === 0) first = d;
      }
      return first ?? {};
    },
  };
}
