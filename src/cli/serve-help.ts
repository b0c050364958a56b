// The environment `timebox serve` reads, for its --help: here so that printing help loads no server code.
export const SERVE_ENV_HELP = `
Environment:
  APP_ID            the GitHub App's id (required)
  PRIVATE_KEY       its private key, PEM (or PRIVATE_KEY_PATH: a file holding it) (required)
  WEBHOOK_SECRET    the webhook secret set on the App (required; unsigned deliveries are refused)
  PORT              port to listen on (default 3000)
  HOST              address to listen on (default 0.0.0.0)
  GITHUB_API_URL    REST API base URL, for GitHub Enterprise (default https://api.github.com)
  GITHUB_SERVER_URL git host the access repos are fetched from (default: from GITHUB_API_URL,
                    https://github.com)
  TIMEBOX_STATE_DIR where the access repos' git mirrors are kept, a cache (default ~/.cache/timebox)
  TIMEBOX_<PROVIDER>_<CONNECTION>_URL, …  the targets' admin credentials (docs/providers/)
  TIMEBOX_WEBHOOK_MAX_CONCURRENT  webhook deliveries read or handled at once; more get 503 (default 32)
  TIMEBOX_WEBHOOK_MAX_BYTES       bytes of webhook bodies held at once; more get 503 (default 104857600)
  TIMEBOX_DATABASE_URL  PostgreSQL shared by several replicas (postgresql://…): webhooks stored and
                    handled by one replica, revocations and reminders as jobs, periodic work once per
                    interval (docs/deployment.md, "Replicas"). Unset: one process, state in memory
  LOG_LEVEL         trace, debug, info (default), warn, error

Notification channels (used when an access repo's timebox.yaml has \`notify:\`; docs/notifications.md):
  TIMEBOX_SLACK_TOKEN     Slack bot token (xoxb-…, scope chat:write) for \`channel: slack\`
  TIMEBOX_SMTP_URL        SMTP server for \`channel: email\`, e.g. smtps://user:pass@host:465
  TIMEBOX_SMTP_FROM       sender when an entry has no \`from:\`
  TIMEBOX_WEBHOOK_SECRET  HMAC-SHA256 secret for \`channel: webhook\` (an entry's \`secret_env:\` names another)

Webhooks are received at POST /api/github/webhooks; GET /healthz answers 200. Each access repo's
timebox.yaml sets reconcile_interval (full reconcile, default 5m), remind_before (default 15m) and
pending_ttl (closing unapproved request PRs, default 7d).`;
