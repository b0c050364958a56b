// Prints the closing line of a test run, `N passed, N failed, N skipped`, from vitest's JSON report.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-output/vitest.json';
try {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  process.stdout.write(`\n${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped\n`);
} catch (err) {
  process.stdout.write(`\ntest summary unavailable: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
