// The example notifier: records every notice the engine emits, with its plain-text line. To add a channel
// (chat, mail), do what this folder does: implement `Notifier` (src/engine/notices/notifier.ts) in one
// module and add it to the list — `noticesFor(forge, botLogin, [it])`, or `notifiers: [it]` for
// `startServer`/the keeper. The notice is data; src/engine/notices/render.ts has already made the words.
import type { Notice, Notifier } from '../../../src/engine/notices/index.js';
import type { Rendered } from '../../../src/engine/notices/render.js';

export class RecordingNotifier implements Notifier {
  readonly name = 'recording';
  readonly seen: { notice: Notice; text: string }[] = [];

  async notify(notice: Notice, rendered: Rendered) {
    this.seen.push({ notice, text: rendered.text });
    return undefined;
  }

  kinds(): Notice['kind'][] {
    return this.seen.map((s) => s.notice.kind);
  }
}
