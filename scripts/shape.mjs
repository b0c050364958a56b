#!/usr/bin/env node
// The shape of src/ that docs/design.md promises, measured: file and function sizes, import circles, which
// files import the GitHub libraries, and which read the wall clock. `node scripts/shape.mjs` prints the
// figures and every breach and exits 1 on a breach; `--json` prints the same as JSON (test/design/shape.test.ts
// asserts on it).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const LIMITS = {
  fileLines: 600,
  functionLines: 150,
  /** Files that may import octokit/probot: the GitHub edge. */
  githubEdge: 'src/github/',
  /** At most this many files read the wall clock or arm bare timers. */
  clockFiles: 2,
};

const GITHUB_LIBS = /^(@octokit\/|probot$|probot\/)/;
// Reading the wall clock or arming a timer without the Clock (src/core/clock.ts).
const CLOCK_READS = [
  /\bDate\.now\(/,
  /\bnew Date\(\s*\)/,
  /\bperformance\.now\(/,
  /(?<![.\w])setTimeout\(/,
  /(?<![.\w])setInterval\(/,
  /\bglobalThis\.set(Timeout|Interval)\(/,
];

function walk(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function functionName(node, sf) {
  if (node.name && ts.isIdentifier(node.name)) return node.name.text;
  if (node.name) return node.name.getText(sf);
  const p = node.parent;
  if (p && ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (p && ts.isPropertyAssignment(p)) return p.name.getText(sf);
  if (p && ts.isCallExpression(p)) return `(callback of ${p.expression.getText(sf).slice(0, 40)})`;
  return '(anonymous)';
}

export function measure(root) {
  const src = join(root, 'src');
  const files = walk(src).sort();
  const rel = (f) => relative(root, f).split('\\').join('/');
  const report = {
    files: [],
    longFiles: [],
    longFunctions: [],
    circles: [],
    githubImports: [],
    clockFiles: [],
  };
  const graph = new Map();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    const name = rel(file);
    report.files.push({ file: name, lines });
    if (lines > LIMITS.fileLines) report.longFiles.push({ file: name, lines });
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const deps = new Set();
    const visit = (node) => {
      if (
        ts.isFunctionDeclaration(node) ||
        ts.isMethodDeclaration(node) ||
        ts.isArrowFunction(node) ||
        ts.isFunctionExpression(node) ||
        ts.isConstructorDeclaration(node) ||
        ts.isGetAccessor(node) ||
        ts.isSetAccessor(node)
      ) {
        if (node.body) {
          const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
          const end = sf.getLineAndCharacterOfPosition(node.end).line;
          const n = end - start + 1;
          if (n > LIMITS.functionLines)
            report.longFunctions.push({
              file: name,
              line: start + 1,
              name: functionName(node, sf),
              lines: n,
            });
        }
      }
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
        const spec = node.moduleSpecifier.text;
        if (GITHUB_LIBS.test(spec) && !name.startsWith(LIMITS.githubEdge))
          report.githubImports.push({ file: name, module: spec });
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
          deps.add(rel(target));
        }
      }
      if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const arg = node.arguments[0];
        if (
          arg &&
          ts.isStringLiteral(arg) &&
          GITHUB_LIBS.test(arg.text) &&
          !name.startsWith(LIMITS.githubEdge)
        )
          report.githubImports.push({ file: name, module: arg.text });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
    graph.set(name, deps);
    // Comments do not read clocks: strip them before looking.
    const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
    const hits = CLOCK_READS.filter((re) => re.test(code)).map((re) => re.source);
    if (hits.length > 0) report.clockFiles.push({ file: name, reads: hits });
  }
  report.circles = findCycles(graph);
  report.longFunctions.sort((a, b) => b.lines - a.lines);
  report.breaches =
    report.longFiles.length +
    report.longFunctions.length +
    report.circles.length +
    report.githubImports.length +
    Math.max(0, report.clockFiles.length - LIMITS.clockFiles);
  return report;
}

/** Strongly connected components with more than one module (Tarjan), each as a sorted list. */
function findCycles(graph) {
  let index = 0;
  const stack = [];
  const on = new Set();
  const idx = new Map();
  const low = new Map();
  const out = [];
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? new Set()).has(v)) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) strong(v);
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const r = measure(root);
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  } else {
    const biggest = [...r.files].sort((a, b) => b.lines - a.lines).slice(0, 5);
    console.log(
      `src/: ${r.files.length} files; largest: ${biggest.map((f) => `${f.file} ${f.lines}`).join(', ')}`,
    );
    for (const f of r.longFiles) console.log(`file over ${LIMITS.fileLines} lines: ${f.file} (${f.lines})`);
    for (const f of r.longFunctions)
      console.log(`function over ${LIMITS.functionLines} lines: ${f.file}:${f.line} ${f.name} (${f.lines})`);
    for (const c of r.circles) console.log(`import circle: ${c.join(' ↔ ')}`);
    for (const g of r.githubImports)
      console.log(`GitHub library outside ${LIMITS.githubEdge}: ${g.file} imports ${g.module}`);
    console.log(
      `wall clock read in ${r.clockFiles.length} file(s) (at most ${LIMITS.clockFiles}): ${r.clockFiles.map((c) => c.file).join(', ')}`,
    );
    console.log(r.breaches === 0 ? 'shape: met' : `shape: ${r.breaches} breach(es)`);
  }
  process.exitCode = r.breaches === 0 ? 0 : 1;
}
