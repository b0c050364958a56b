// The web address of the access repository, for links to its pull requests in the HTML audit.
// Only what a remote URL says plainly: https, scp-like `git@host:owner/repo` and ssh:// forms.
// Credentials in a remote URL never reach the page.

/** `https://host/owner/repo` for a remote URL of a hosted repository, or null (a local path, anything else). */
export function webUrlOf(remote: string): string | null {
  const url = remote.trim();
  let host: string | undefined;
  let path: string | undefined;
  const scp = /^(?:[\w.-]+@)?([\w.-]+):(?!\/\/)([^\s]+)$/.exec(url);
  if (/^(?:https?|ssh|git):\/\//i.test(url)) {
    try {
      const u = new URL(url);
      host = u.hostname;
      path = u.pathname;
    } catch {
      return null;
    }
  } else if (scp) {
    host = scp[1];
    path = scp[2];
  }
  if (!host || !path) return null;
  const m = /^\/*([\w.-]+)\/([\w.-]+?)(?:\.git)?\/*$/.exec(path);
  if (!m || !/^[a-z0-9.-]+$/i.test(host)) return null;
  return `https://${host.toLowerCase()}/${m[1]}/${m[2]}`;
}

/** From Actions' GITHUB_SERVER_URL and GITHUB_REPOSITORY, when both are set and sound. */
export function webUrlFromEnv(env: Record<string, string | undefined>): string | null {
  const server = env.GITHUB_SERVER_URL?.replace(/\/+$/, '');
  const repo = env.GITHUB_REPOSITORY;
  if (!server || !repo || !/^https:\/\/[a-z0-9.-]+(?::\d+)?$/i.test(server)) return null;
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) return null;
  return `${server}/${repo}`;
}
