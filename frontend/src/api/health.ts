import type { HealthReport } from '@/types/api'
import { ApiError, NetworkError, apiRequest } from './client'

export type HealthResult =
  | { kind: 'ok' }
  /** The server answered but a dependency is down: names and reasons of what failed. */
  | { kind: 'degraded'; problems: string[] }
  /** Nothing that speaks the Anker API answered at this origin. */
  | { kind: 'unreachable'; detail: string }

function problemsOf(report: unknown): string[] {
  if (typeof report !== 'object' || report === null) return []
  return Object.entries(report as Partial<HealthReport>).flatMap(([name, state]) => {
    // Under `make run`, `processes` holds each child's state: "running…" or "restarting…".
    if (typeof state === 'object' && state !== null) {
      return Object.entries(state)
        .filter(([, child]) => !String(child).startsWith('running'))
        .map(([child, childState]) => `${child}: ${String(childState)}`)
    }
    return state === 'ok' ? [] : [`${name}: ${String(state)}`]
  })
}

export async function checkHealth(): Promise<HealthResult> {
  try {
    await apiRequest<HealthReport>('/health', { auth: false })
    return { kind: 'ok' }
  } catch (error) {
    if (error instanceof ApiError) {
      if (!error.fromEnvelope) return { kind: 'unreachable', detail: `HTTP ${error.status} from /api/v1/health` }
      const problems = problemsOf(error.data)
      return { kind: 'degraded', problems: problems.length ? problems : [error.message] }
    }
    return { kind: 'unreachable', detail: error instanceof NetworkError ? 'no response' : String(error) }
  }
}
