/**
 * Replaying a recorded timeline: how long to wait before each event, and which events a step
 * lands on. Pure functions; `useReplay` drives them with timers.
 */
import type { SessionEvent } from '@/types/session-events'

/** Playback speeds offered (1 = the recorded pace). */
export const REPLAY_SPEEDS = [1, 2, 5, 10] as const
export type ReplaySpeed = (typeof REPLAY_SPEEDS)[number]

/** A recorded pause longer than this (the agent waiting on a model, the user away) is cut to it. */
export const MAX_GAP_SECONDS = 3
/** Events recorded within the same second (timestamps are whole seconds) still come one by one. */
export const MIN_STEP_MS = 120

/** Milliseconds between showing `previous` and `next` at `speed`. */
export function replayDelayMs(previous: SessionEvent, next: SessionEvent, speed: number): number {
  const gapSeconds = Math.min(Math.max(next.timestamp - previous.timestamp, 0), MAX_GAP_SECONDS)
  return Math.max(gapSeconds * 1000, MIN_STEP_MS) / speed
}

/** Events that change nothing a reader sees by themselves (the status pill aside). */
const QUIET_TYPES: ReadonlySet<string> = new Set(['status', 'done', 'message_delta'])

/** Whether a step (Next / Previous) stops at this event. */
export function isLandmark(event: SessionEvent): boolean {
  return !QUIET_TYPES.has(event.type)
}

/** "m:ss" (or "h:mm:ss") of a number of seconds. */
export function clock(seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds))
  const h = Math.floor(whole / 3600)
  const m = Math.floor((whole % 3600) / 60)
  const s = String(whole % 60).padStart(2, '0')
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`
}
