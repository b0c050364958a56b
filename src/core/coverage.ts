// Policy test coverage (`timebox verify --coverage`): which rules and approval steps the policy tests
// exercise, from the decisions the tests got. Pure: rules and decisions in, coverage out.
//
// - A rule is covered when some test's decision names it: as the deciding `rule`, in a reason
//   (`reasons[].rule`: a deny rule, a violated condition, a step still needed) or as the rule whose
//   `break_glass` approved it.
// - An approval step (a rule's `approvals[i]`) is covered when some test's decision reports that step, filled
//   (enough approvers counted, or filled by the on-call schedule) or still needed (pending): that is, the
//   decision's approvals are that rule's (`rule` is the rule and `approvals` is present, or break-glass
//   names the rule and reports its ratification). A rule that tests only ever deny (too long, no ticket)
//   has its steps uncovered: no test shows who may approve it.
import type { ApprovalReport, Decision, Rule, SourceRef } from './model.js';

export interface UncoveredRule {
  rule: string;
  effect: Rule['effect'];
  source: SourceRef;
}

export interface UncoveredStep {
  rule: string;
  /** 1-based, as people count the steps of a rule. */
  step: number;
  from: string[];
  count: number;
  source: SourceRef;
}

export interface CoverageCount {
  covered: number;
  total: number;
  /** covered / total × 100, rounded to one decimal; 100 when there is nothing to cover. */
  percent: number;
}

export interface Coverage {
  rules: CoverageCount & { uncovered: UncoveredRule[] };
  steps: CoverageCount & { uncovered: UncoveredStep[] };
}

/** The names a decision gives: its rule, each reason's rule, the break-glass rule. */
export function rulesNamed(decision: Decision): Set<string> {
  const names = new Set<string>();
  if (decision.rule) names.add(decision.rule);
  for (const r of decision.reasons) names.add(r.rule);
  if (decision.break_glass) names.add(decision.break_glass.rule);
  return names;
}

/** The approval reports a decision gives, by the rule they are of. */
function reportsOf(decision: Decision): [string, ApprovalReport][] {
  const out: [string, ApprovalReport][] = [];
  if (decision.rule && decision.approvals) out.push([decision.rule, decision.approvals]);
  if (decision.break_glass) out.push([decision.break_glass.rule, decision.break_glass.ratification]);
  return out;
}

const percent = (covered: number, total: number) =>
  total === 0 ? 100 : Math.round((covered / total) * 1000) / 10;

export function policyCoverage(rules: readonly Rule[], decisions: readonly Decision[]): Coverage {
  const named = new Set<string>();
  /** `rule\0index` of every step some decision reported (filled or needed). */
  const used = new Set<string>();
  for (const d of decisions) {
    for (const n of rulesNamed(d)) named.add(n);
    for (const [rule, report] of reportsOf(d)) {
      // Every reported step is filled or still needed: either way a test exercised it.
      for (let i = 0; i < report.steps.length; i++) used.add(`${rule}\u0000${i}`);
    }
  }
  const uncoveredRules: UncoveredRule[] = rules
    .filter((r) => !named.has(r.name))
    .map((r) => ({ rule: r.name, effect: r.effect, source: r.source }));
  const steps = rules.flatMap((r) =>
    r.effect === 'allow' ? r.approvals.map((s, i) => ({ rule: r, spec: s, i })) : [],
  );
  const uncoveredSteps: UncoveredStep[] = steps
    .filter((s) => !used.has(`${s.rule.name}\u0000${s.i}`))
    .map((s) => ({
      rule: s.rule.name,
      step: s.i + 1,
      from: [...s.spec.from],
      count: s.spec.count,
      source: s.rule.source,
    }));
  const ruleCovered = rules.length - uncoveredRules.length;
  const stepCovered = steps.length - uncoveredSteps.length;
  return {
    rules: {
      covered: ruleCovered,
      total: rules.length,
      percent: percent(ruleCovered, rules.length),
      uncovered: uncoveredRules,
    },
    steps: {
      covered: stepCovered,
      total: steps.length,
      percent: percent(stepCovered, steps.length),
      uncovered: uncoveredSteps,
    },
  };
}

/** What falls short of `min` percent (rules, steps, or both), for the message and the exit code. */
export function belowMinimum(coverage: Coverage, min: number): ('rules' | 'steps')[] {
  return (['rules', 'steps'] as const).filter((k) => coverage[k].percent < min);
}
