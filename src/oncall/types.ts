// The shapes of an on-call schedule once read (src/oncall/load.ts) and of what it answers
// (src/oncall/schedule.ts). Instants are milliseconds since the epoch; times of day are minutes after local
// midnight in the schedule's zone.
import type { Weekday } from '../core/model.js';

export interface Restriction {
  days: readonly Weekday[];
  /** Minutes after local midnight. */
  from: number;
  /** Minutes after local midnight; at or before `from`, the window ends the next day (equal: a whole day). */
  to: number;
}

export interface Layer {
  name: string;
  rotation: readonly string[];
  /** One turn, in local calendar days (a week is 7): a turn holds one hand-off time, whatever the DST. */
  turnDays: number;
  /** The hand-off time, in minutes after local midnight. */
  handoff: number;
  /** The first hand-off (ms since the epoch), where `rotation[0]`'s first turn begins. */
  start: number;
  /** Where the layer stops applying (ms since the epoch), or null. */
  end: number | null;
  /** Local windows the layer is limited to; null: it applies at all times. */
  restrict: readonly Restriction[] | null;
}

export interface Override {
  login: string;
  /** ms since the epoch, inclusive. */
  start: number;
  /** ms since the epoch, exclusive. */
  end: number;
}

export interface Schedule {
  /** IANA time zone of every hand-off and restriction. */
  tz: string;
  layers: readonly Layer[];
  overrides: readonly Override[];
}

/** One stretch of time during which one login is on call through one layer turn (or override). */
export interface Shift {
  login: string;
  /** The layer's name, or `override`. */
  layer: string;
  start: Date;
  end: Date;
}

export interface OnCall {
  login: string;
  layer: string;
  shift: { start: Date; end: Date };
}

/** The `layer` of a shift given by an override. */
export const OVERRIDE = 'override';
