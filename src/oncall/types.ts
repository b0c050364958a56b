// The shapes of an on-call schedule once read (src/oncall/load.ts) and of what it answers
// (src/oncall/schedule.ts). Instants are milliseconds since the epoch; times of day are minutes after local
// midnight in the schedule's zone.
// The schedule's own shapes are plain data of the core model (policies carry the schedules their steps name).
export type { Layer, Override, Restriction, Schedule } from '../core/model.js';

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
