// `timebox demo`: narrates src/demo/run.ts. On a terminal: sections, ticks, timings and colour; piped:
// plain lines; `--json`: one JSON document with every step and the audit events, nothing else.
import { type DemoResult, type Narrator, runDemo } from '../demo/run.js';
import { colors, type Io } from './context.js';
import { EXIT } from './errors.js';

export async function runDemoCommand(io: Io, opts: { json?: boolean; out?: string }): Promise<number> {
  const c = colors(io);
  const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
  const quiet: Narrator = { section() {}, step() {}, failed() {} };
  const plain: Narrator = {
    section(title) {
      io.stdout(`\n${c.bold(title)}\n`);
    },
    step(title, ms, details) {
      io.stdout(`  ${c.green('✔')} ${title} ${c.dim(`(${fmt(ms)})`)}\n`);
      for (const d of details) io.stdout(`      ${c.dim(d)}\n`);
    },
    failed(title, ms, error) {
      io.stdout(`  ${c.red('✘')} ${title} ${c.dim(`(${fmt(ms)})`)}\n      ${c.red(error.message)}\n`);
    },
  };
  if (!opts.json)
    io.stdout(`${c.bold('Timebox demo')}: the whole life of one access request, on this machine.\n`);
  const result: DemoResult = await runDemo(opts.json ? quiet : plain, {
    env: io.env,
    clock: io.clock,
    ...(opts.out ? { out: opts.out } : {}),
  });
  if (opts.json) {
    io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  } else if (result.ok) {
    io.stdout(
      `\n${c.green(c.bold('Every step verified'))} in ${fmt(result.ms)}. Open the timeline: ${result.report}\n` +
        `Use it for real: README.md, "Use it for real".\n`,
    );
  } else {
    io.stdout(`\n${c.red(c.bold('The demo failed'))} after ${fmt(result.ms)}: the step marked ✘ says why.\n`);
  }
  return result.ok ? EXIT.ok : EXIT.failed;
}
