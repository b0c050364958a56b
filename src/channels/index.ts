// Delivery channels for notices (issue 17): the engine builds ChannelMessages and calls `dispatch`.
export {
  buildRoutes,
  createChannelRouter,
  type NotifyEntry,
  parseNotify,
  SLACK_API_URL_ENV,
} from './config.js';
export { EmailChannel, SMTP_FROM_ENV, SMTP_URL_ENV } from './email.js';
export {
  type Channel,
  type ChannelMessage,
  type DeliveryContext,
  DeliveryError,
  findSecret,
  NOTIFY_EVENTS,
  type NotifyEvent,
} from './message.js';
export { channelsNotifier, type NoticeContext, SentEvents, toChannelMessages } from './notices.js';
export { notifySection, RepoChannels, type RepoChannelsOptions } from './repos.js';
export { type ChannelLogger, ChannelRouter, type ChannelRouterOptions, type Route } from './router.js';
export { SLACK_TOKEN_ENV, SlackChannel } from './slack.js';
export { sign, WEBHOOK_SECRET_ENV, type WebhookBody, WebhookChannel, webhookBody } from './webhook.js';
