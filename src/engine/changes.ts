// Which request files a change touches, with their text: shared by `timebox check --base` (git) and the App
// (a pull request's files on the forge). A rename is the removal of the old path and the addition of the new
// one, everywhere; a removal carries the text it removes (read from before the change), so the decision can
// name whose access ends.
import { isRequestPath } from '../core/decide.js';
import type { ChangedRequestFile, Config } from '../core/model.js';

export interface PathChange {
  path: string;
  status: 'added' | 'modified' | 'removed' | 'renamed' | 'unchanged';
  /** The old path of a rename. */
  previous?: string;
}

export interface ChangeReaders {
  /** A file's text before the change; null when it cannot be read (the removal is then decided without it). */
  before(path: string): Promise<string | null>;
  /** A changed file's text after the change; throws when it cannot be read. */
  after(change: PathChange): Promise<string>;
}

export interface RequestChanges {
  /** Every path the change touches (both sides of a rename), sorted. */
  paths: string[];
  /** The request files among them, sorted by path. */
  requests: ChangedRequestFile[];
  /** Request files whose new text could not be read (too large, vanished): decided invalid with this message. */
  unreadable: { path: string; message: string }[];
}

export async function requestChanges(
  changes: readonly PathChange[],
  config: Config,
  read: ChangeReaders,
): Promise<RequestChanges> {
  const paths = new Set<string>();
  const requests: ChangedRequestFile[] = [];
  const unreadable: RequestChanges['unreadable'] = [];
  const removed = async (path: string): Promise<void> => {
    const content = await read.before(path).catch(() => null);
    requests.push({ path, status: 'removed', ...(content === null ? {} : { previous: { content } }) });
  };
  await Promise.all(
    changes.map(async (c) => {
      paths.add(c.path);
      if (c.previous) paths.add(c.previous);
      if (c.status === 'unchanged') return;
      if (c.status === 'renamed' && c.previous && isRequestPath(c.previous, config))
        await removed(c.previous);
      if (!isRequestPath(c.path, config)) return;
      if (c.status === 'removed') return removed(c.path);
      try {
        const content = await read.after(c);
        requests.push({ path: c.path, status: c.status === 'modified' ? 'modified' : 'added', content });
      } catch (err) {
        unreadable.push({ path: c.path, message: (err as Error).message });
      }
    }),
  );
  return { paths: [...paths].sort(), requests: requests.sort(byPath), unreadable: unreadable.sort(byPath) };
}

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
