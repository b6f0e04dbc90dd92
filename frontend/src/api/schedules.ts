import type { Schedule, ScheduleInput, ScheduleRun } from '@/types/schedules'
import { apiRequest } from './client'

const enc = encodeURIComponent

export async function listSchedules(): Promise<Schedule[]> {
  const data = await apiRequest<{ schedules: Schedule[]; count: number }>('/schedules')
  return data.schedules
}

export function createSchedule(input: ScheduleInput): Promise<Schedule> {
  return apiRequest<Schedule>('/schedules', { method: 'POST', body: input })
}

export function updateSchedule(scheduleId: string, changes: Partial<ScheduleInput>): Promise<Schedule> {
  return apiRequest<Schedule>(`/schedules/${enc(scheduleId)}`, { method: 'PATCH', body: changes })
}

export function deleteSchedule(scheduleId: string): Promise<null> {
  return apiRequest<null>(`/schedules/${enc(scheduleId)}`, { method: 'DELETE' })
}

/** Fires the schedule now (its overlap policy applies) and answers the run. */
export function runScheduleNow(scheduleId: string): Promise<ScheduleRun> {
  return apiRequest<ScheduleRun>(`/schedules/${enc(scheduleId)}/run`, { method: 'POST' })
}

export async function listScheduleRuns(scheduleId: string, limit = 20): Promise<ScheduleRun[]> {
  const data = await apiRequest<{ runs: ScheduleRun[]; count: number }>(
    `/schedules/${enc(scheduleId)}/runs?limit=${limit}`,
  )
  return data.runs
}
