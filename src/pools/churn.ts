/**
 * Churn: every connection our side closes parks its port in TIME_WAIT for 60 s, so the
 * TIME_WAIT a tuple holds now is its close rate times 60 s (docs/kernel-model.md, "Churn").
 * Only TIME_WAIT that holds a port counts: one the kernel would reuse parks nothing.
 */
import { TIME_WAIT_LIFETIME_MS } from '../model/records';

/** The window of the burst figure: TIME_WAIT younger than this. */
export const RECENT_CLOSES_MS = 10_000;

export interface Churn {
  /** Closes per second over the last 60 s: the counted TIME_WAIT, over its lifetime. */
  readonly closesPerSecond: number;
  /** The same over the last 10 s, so that a burst shows. */
  readonly closesPerSecondLast10s: number;
  /**
   * How many times today's churn the tuple can hold before connect() fails:
   * (ports left + counted TIME_WAIT) / counted TIME_WAIT. Null with no counted TIME_WAIT.
   */
  readonly headroomFactor: number | null;
  /** The close rate the tuple can sustain: (ports left + counted TIME_WAIT) / 60 s. */
  readonly ceilingPerSecond: number;
}

/**
 * @param remaining ports the tuple can still get from connect()
 * @param timeWaitHeld ports held by its counted TIME_WAIT (part of what it uses)
 * @param timeWaitRecent those of them younger than RECENT_CLOSES_MS
 */
export function churnOf(remaining: number, timeWaitHeld: number, timeWaitRecent: number): Churn {
  const lifetimeSeconds = TIME_WAIT_LIFETIME_MS / 1000;
  return {
    closesPerSecond: timeWaitHeld / lifetimeSeconds,
    closesPerSecondLast10s: timeWaitRecent / (RECENT_CLOSES_MS / 1000),
    headroomFactor: headroomFactor(remaining, timeWaitHeld),
    ceilingPerSecond: forChurn(remaining, timeWaitHeld) / lifetimeSeconds,
  };
}

/** (ports left + counted TIME_WAIT) / counted TIME_WAIT; null without counted TIME_WAIT. */
export function headroomFactor(remaining: number, timeWaitHeld: number): number | null {
  return timeWaitHeld === 0 ? null : forChurn(remaining, timeWaitHeld) / timeWaitHeld;
}

/**
 * Ports the tuple's churn can use: what is left, and what its TIME_WAIT holds now. The rest
 * is held by its other sockets, which stay whatever the close rate.
 */
function forChurn(remaining: number, timeWaitHeld: number): number {
  return Math.max(0, remaining + timeWaitHeld);
}
