// Git data: blobs, trees, commits and refs, read and written object by object as GitHub's git database API does.

import { buildGitCommit, buildGitRef } from '../builders/git.js';
import { API_URL, base64Lines, type JsonObject, nodeId } from '../builders.js';
import { GitInputError, type Identity, type TreeEntry, type TreeInput } from '../git-store.js';
import {
  actorOf,
  type Context,
  invalid,
  NOT_FOUND,
  type On,
  type Reply,
  repoOf,
  type Stores,
} from '../router.js';
import type { GitHubState, RepoState } from '../state.js';

export function gitReadRoutes(on: On): void {
  on('GET', '/repos/{owner}/{repo}/git/trees/{tree_sha}', async (ctx) => {
    const repo = repoOf(ctx);
    const sha = await repo.git.resolveTree(ctx.params.tree_sha ?? '');
    if (!sha) return NOT_FOUND;
    // GitHub recurses when `recursive` has any value at all, even 0 or false.
    const entries = await repo.git.lsTree(sha, ctx.query.has('recursive'));
    const api = `${API_URL}/repos/${repo.fullName}`;
    return {
      status: 200,
      body: {
        sha,
        url: `${api}/git/trees/${sha}`,
        tree: entries.map((e) => treeEntry(api, e)),
        truncated: false,
      },
    };
  });

  on('GET', '/repos/{owner}/{repo}/git/blobs/{file_sha}', async (ctx) => {
    const repo = repoOf(ctx);
    const sha = ctx.params.file_sha ?? '';
    const content = await repo.git.readBlob(sha);
    if (!content) return NOT_FOUND;
    return {
      status: 200,
      body: {
        sha,
        node_id: nodeId('B', sha),
        size: content.length,
        url: `${API_URL}/repos/${repo.fullName}/git/blobs/${sha}`,
        content: base64Lines(content),
        encoding: 'base64',
      },
    };
  });

  on('GET', '/repos/{owner}/{repo}/git/commits/{commit_sha}', async (ctx) => {
    const repo = repoOf(ctx);
    const info = await repo.git.commitInfo(ctx.params.commit_sha ?? '');
    return info ? { status: 200, body: buildGitCommit(repo.fullName, info) } : NOT_FOUND;
  });
  on('GET', '/repos/{owner}/{repo}/git/ref/{ref}', async (ctx) => {
    const repo = repoOf(ctx);
    const ref = `refs/${ctx.params.ref ?? ''}`;
    const sha = await repo.git.readRef(ref);
    if (!sha) return NOT_FOUND;
    const type = (await repo.git.objectType(sha)) ?? 'commit';
    return { status: 200, body: buildGitRef(repo.fullName, ref, sha, type) };
  });
}

export function gitWriteRoutes(on: On, { state }: Stores): void {
  on('POST', '/repos/{owner}/{repo}/git/blobs', async (ctx) => {
    const repo = repoOf(ctx);
    const input = ctx.body as { content: string; encoding?: string };
    const encoding = (input.encoding ?? 'utf-8').toLowerCase();
    if (!['utf-8', 'utf8', 'base64'].includes(encoding)) {
      return invalid(`encoding must be "utf-8" or "base64"`);
    }
    const content = encoding === 'base64' ? Buffer.from(input.content, 'base64') : input.content;
    const sha = await repo.git.writeBlob(content);
    return { status: 201, body: { url: `${API_URL}/repos/${repo.fullName}/git/blobs/${sha}`, sha } };
  });

  on('POST', '/repos/{owner}/{repo}/git/trees', (ctx) => createTree(repoOf(ctx), ctx.body as TreeBody));

  on('POST', '/repos/{owner}/{repo}/git/commits', async (ctx) => {
    const repo = repoOf(ctx);
    const input = ctx.body as {
      message: string;
      tree: string;
      parents?: string[];
      author?: unknown;
      committer?: unknown;
    };
    const { git } = repo;
    if ((await git.objectType(input.tree)) !== 'tree') return invalid('Tree SHA does not exist');
    for (const parent of input.parents ?? []) {
      if ((await git.objectType(parent)) !== 'commit') {
        return invalid('Parent SHA does not exist or is not a commit object');
      }
    }
    // Defaults: the authenticated user (the app's bot) and now; the committer defaults to the author.
    const author = gitIdentity(input.author, state.identity(actorOf(ctx)));
    const committer = gitIdentity(input.committer, author);
    const sha = await git.writeCommitObject({
      tree: input.tree,
      parents: input.parents ?? [],
      author,
      committer,
      message: input.message,
      sign: apiSigner(state, input),
    });
    const info = await git.commitInfo(sha);
    if (!info) throw new Error(`commit ${sha} vanished`);
    return { status: 201, body: buildGitCommit(repo.fullName, info) };
  });
  /** A moved, created or deleted branch is a push (for `push` payloads); other refs are not. */
  const recordBranchUpdate = async (
    repo: ReturnType<typeof repoOf>,
    ref: string,
    before: string | undefined,
    after: string | undefined,
    ctx: Context,
    forced: boolean,
  ): Promise<void> => {
    if (!ref.startsWith('refs/heads/')) return;
    await state.recordPush(repo, {
      branch: ref.slice('refs/heads/'.length),
      before,
      after,
      pusher: actorOf(ctx),
      forced,
    });
  };

  on('POST', '/repos/{owner}/{repo}/git/refs', async (ctx) => {
    const repo = repoOf(ctx);
    const { ref, sha } = ctx.body as { ref: string; sha: string };
    if (!ref.startsWith('refs/') || ref.split('/').length < 3) {
      return invalid("Reference name must start with 'refs/' and contain at least two slashes.");
    }
    const { git } = repo;
    if (!(await git.checkRefName(ref))) return invalid(`${ref} is not a valid ref name.`);
    const type = await git.objectType(sha);
    if (!type) return invalid('Object does not exist');
    // Git (and GitHub) keep branches on commits.
    if (ref.startsWith('refs/heads/') && type !== 'commit') return invalid('Object is not a commit');
    return git.exclusive(async () => {
      if (await git.readRef(ref)) return invalid('Reference already exists');
      try {
        await git.setRef(ref, sha, undefined);
      } catch {
        // A ref in the way of the name (`a` exists, `a/b` asked, or the reverse): git refuses, so does GitHub.
        return invalid('Reference update failed');
      }
      await recordBranchUpdate(repo, ref, undefined, sha, ctx, false);
      return { status: 201, body: buildGitRef(repo.fullName, ref, sha, type) };
    });
  });

  on('PATCH', '/repos/{owner}/{repo}/git/refs/{ref}', async (ctx) => {
    const repo = repoOf(ctx);
    const ref = `refs/${ctx.params.ref ?? ''}`;
    const { sha, force } = ctx.body as { sha: string; force?: boolean };
    const { git } = repo;
    return git.exclusive(async () => {
      const current = await git.readRef(ref);
      if (!current) return invalid('Reference does not exist');
      const type = await git.objectType(sha);
      if (!type) return invalid('Object does not exist');
      if (ref.startsWith('refs/heads/') && type !== 'commit') return invalid('Object is not a commit');
      const fastForward = await git.isAncestor(current, sha);
      if (!fastForward && !force) return invalid('Update is not a fast forward');
      await git.setRef(ref, sha, current);
      if (current !== sha) await recordBranchUpdate(repo, ref, current, sha, ctx, !fastForward);
      return { status: 200, body: buildGitRef(repo.fullName, ref, sha, type) };
    });
  });

  on('DELETE', '/repos/{owner}/{repo}/git/refs/{ref}', async (ctx) => {
    const repo = repoOf(ctx);
    const ref = `refs/${ctx.params.ref ?? ''}`;
    const { git } = repo;
    return git.exclusive(async () => {
      const current = await git.readRef(ref);
      if (!current) return invalid('Reference does not exist');
      await git.setRef(ref, undefined, current);
      await recordBranchUpdate(repo, ref, current, undefined, ctx, false);
      return { status: 204 };
    });
  });
}

interface TreeBody {
  base_tree?: string;
  tree: {
    path?: string;
    mode?: string;
    type?: TreeInput['type'];
    sha?: string | null;
    content?: string;
  }[];
}

/** `POST /git/trees`: the entries checked as GitHub checks them, then written onto the base tree. */
async function createTree(repo: RepoState, input: TreeBody): Promise<Reply> {
  const { git } = repo;
  if (input.base_tree !== undefined && (await git.objectType(input.base_tree)) !== 'tree') {
    return invalid('base_tree is not a valid tree oid');
  }
  const entries: TreeInput[] = [];
  for (const e of input.tree) {
    if (!e.path) return invalid('Must supply a valid tree.path');
    if (!e.mode) return invalid('Must supply a valid tree.mode');
    if (!e.type) return invalid('Must supply a valid tree.type');
    if (e.sha !== undefined && e.content !== undefined) {
      return invalid(
        'Must supply either tree.sha or tree.content. Request will be rejected if both are present.',
      );
    }
    let sha: string | null;
    if (e.content !== undefined) sha = await git.writeBlob(e.content);
    else if (e.sha !== undefined) sha = e.sha;
    else return invalid('Must supply either tree.sha or tree.content.');
    entries.push({ path: e.path, mode: e.mode, type: e.type, sha });
  }
  try {
    const sha = await git.writeTree(input.base_tree, entries);
    const api = `${API_URL}/repos/${repo.fullName}`;
    const listed = await git.lsTree(sha, false);
    return {
      status: 201,
      body: {
        sha,
        url: `${api}/git/trees/${sha}`,
        tree: listed.map((e) => treeEntry(api, e)),
        truncated: false,
      },
    };
  } catch (e) {
    if (e instanceof GitInputError) return invalid(e.message);
    throw e;
  }
}

/**
 * GitHub signs a commit an App makes through the API (web-flow) when it names no author or committer of its
 * own; a commit with custom identities is left unsigned.
 */
export function apiSigner(state: GitHubState, input: { author?: unknown; committer?: unknown }) {
  const custom = (p: unknown) => Boolean((p as { name?: string } | undefined)?.name);
  return custom(input.author) || custom(input.committer) ? undefined : state.webFlow.sign;
}

/** An `{ name, email, date? }` of the git data and contents APIs, or the default. */
export function gitIdentity(input: unknown, fallback: Identity): Identity {
  const person = input as { name?: string; email?: string; date?: string } | undefined;
  if (!person?.name || !person.email) return fallback;
  return { name: person.name, email: person.email, ...(person.date ? { date: new Date(person.date) } : {}) };
}

function treeEntry(api: string, e: TreeEntry): JsonObject {
  const entry: JsonObject = { path: e.path, mode: e.mode, type: e.type, sha: e.sha };
  if (e.size !== undefined) entry.size = e.size;
  if (e.type === 'blob') entry.url = `${api}/git/blobs/${e.sha}`;
  if (e.type === 'tree') entry.url = `${api}/git/trees/${e.sha}`;
  return entry;
}
