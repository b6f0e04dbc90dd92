/** Shapes of the schedules API (`/api/v1/schedules`), mirroring jobs/schedule_apis.py. */
import type { SessionMode } from './api'

export type OverlapPolicy = 'skip' | 'enqueue' | 'cancel_previous'
export type ScheduleRunOutcome = 'started' | 'skipped' | 'pending' | 'missed' | 'failed'

export interface ScheduleJob {
  prompt: string
  mode: SessionMode
  webhook_url?: string
  metadata?: Record<string, unknown>
  priority?: number
  timeout_s?: number | null
}

export interface Schedule {
  schedule_id: string
  name: string
  cron: string
  timezone: string
  start_at: string | null
  end_at: string | null
  enabled: boolean
  overlap_policy: OverlapPolicy
  job: ScheduleJob
  /** The next fire instant (UTC); null when none is left or the schedule is disabled. */
  next_run_at: string | null
  last_run_at: string | null
  created_at: string
  updated_at: string
}

export interface ScheduleRun {
  run_id: string
  fire_at: string
  manual: boolean
  outcome: ScheduleRunOutcome
  missed_count: number
  error: string | null
  job_id: string | null
  job_status: string | null
  session_id: string | null
  created_at: string
}

/** What the create/edit form sends. */
export interface ScheduleInput {
  name: string
  cron: string
  timezone: string
  enabled: boolean
  overlap_policy: OverlapPolicy
  job: { prompt: string; mode: SessionMode }
}
