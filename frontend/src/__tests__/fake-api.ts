import { vi } from 'vitest'

/** One request the app made, as the server saw it. */
export interface SeenRequest {
  method: string
  path: string
  headers: Record<string, string>
  body: unknown
}

type Answer = { status?: number; data?: unknown; msg?: string } | (() => Promise<Response>)

/**
 * A `fetch` stand-in for the REST API: answers `METHOD /path` (under /api/v1) with an envelope
 * and records every request. An unexpected request is a 599 so a test sees it.
 */
export function fakeApi(routes: Record<string, Answer>) {
  const seen: SeenRequest[] = []
  const fetchMock = vi.fn(async (url: string, init: RequestInit = {}) => {
    const method = init.method ?? 'GET'
    const path = url.replace(/^\/api\/v1/, '')
    const headers = { ...(init.headers as Record<string, string>) }
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : (init.body ?? null)
    seen.push({ method, path, headers, body })
    const answer = routes[`${method} ${path}`]
    if (answer === undefined) return new Response('unexpected', { status: 599 })
    if (typeof answer === 'function') return answer()
    const status = answer.status ?? 200
    const envelope = { code: status === 200 ? 0 : status, msg: answer.msg ?? 'success', data: answer.data ?? null }
    return new Response(JSON.stringify(envelope), { status, headers: { 'Content-Type': 'application/json' } })
  })
  vi.stubGlobal('fetch', fetchMock)
  return { seen, fetchMock }
}

/** Lets pending promises (fetch, JSON parsing) settle. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0))
}
