// The contents API: a file or directory at a ref, and deleting a file with a commit.
import { buildContent, buildGitCommit } from '../builders/git.js';
import type { TreeEntry } from '../git-store.js';
import { actorOf, error, NOT_FOUND, type On, repoOf, type Stores } from '../router.js';
import { apiSigner, gitIdentity } from './git-data.js';

export function contentRoutes(on: On, { state }: Stores): void {
  on('GET', '/repos/{owner}/{repo}/contents/{path}', async (ctx) => {
    const repo = repoOf(ctx);
    const ref = ctx.query.get('ref') || String(repo.json.default_branch);
    const commit = await repo.git.resolveCommit(ref);
    if (!commit) return error(404, `No commit found for the ref ${ref}`);
    const path = (ctx.params.path ?? '').replace(/^\/+|\/+$/g, '');
    const entry = await repo.git.entryAt(commit, path);
    if (!entry) return NOT_FOUND;
    if (entry.type === 'tree') {
      const children = await repo.git.lsTree(entry.sha, false);
      return {
        status: 200,
        body: children.map((c) =>
          buildContent(repo.fullName, {
            type: contentType(c),
            path: path ? `${path}/${c.path}` : c.path,
            sha: c.sha,
            size: c.size ?? 0,
            ref,
          }),
        ),
      };
    }
    const content = (await repo.git.readBlob(entry.sha)) ?? Buffer.alloc(0);
    return {
      status: 200,
      body: buildContent(
        repo.fullName,
        { type: contentType(entry), path, sha: entry.sha, size: content.length, ref },
        content,
      ),
    };
  });
  on('DELETE', '/repos/{owner}/{repo}/contents/{path}', async (ctx) => {
    const repo = repoOf(ctx);
    const input = ctx.body as {
      message: string;
      sha: string;
      branch?: string;
      author?: unknown;
      committer?: unknown;
    };
    const path = (ctx.params.path ?? '').replace(/^\/+|\/+$/g, '');
    const branch = input.branch ?? String(repo.json.default_branch);
    const { git } = repo;
    // Defaults as documented: the committer is the authenticated user, the author the committer.
    const committer = gitIdentity(input.committer, state.identity(actorOf(ctx)));
    const author = gitIdentity(input.author, committer);
    return git.exclusive(async () => {
      const tip = await git.branchTip(branch);
      if (!tip) return error(404, `Branch ${branch} not found`);
      const entry = await git.entryAt(tip, path);
      if (entry?.type !== 'blob') return NOT_FOUND;
      if (entry.sha !== input.sha) return error(409, `${path} does not match ${input.sha}`);
      const sha = await git.writeCommit({
        parent: tip,
        files: { [path]: null },
        author,
        committer,
        message: input.message,
        sign: apiSigner(state, input),
      });
      await git.updateBranch(branch, sha, tip);
      await state.recordPush(repo, { branch, before: tip, after: sha, pusher: actorOf(ctx), forced: false });
      const info = await git.commitInfo(sha);
      if (!info) throw new Error(`commit ${sha} vanished`);
      const commit = buildGitCommit(repo.fullName, info);
      return { status: 200, body: { content: null, commit } };
    });
  });
}

function contentType(e: TreeEntry): 'file' | 'dir' | 'symlink' | 'submodule' {
  if (e.type === 'tree') return 'dir';
  if (e.type === 'commit') return 'submodule';
  return e.mode === '120000' ? 'symlink' : 'file';
}
