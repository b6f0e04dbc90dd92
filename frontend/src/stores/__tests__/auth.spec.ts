import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { onAuthLost } from '@/api/client'
import { useAuthStore } from '@/stores/auth'

const USER = { id: 7, username: 'ada', email: 'ada@example.com', is_staff: false }

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

interface Call {
  url: string
  method: string
  authorization: string | null
  csrf: string | null
  credentials: RequestCredentials | undefined
  body: string | null
}

function storedValues(): Record<string, string> {
  return Object.fromEntries(Object.keys(localStorage).map((key) => [key, localStorage.getItem(key) ?? '']))
}

function recordingFetch(responses: Response[]) {
  const calls: Call[] = []
  const fetchMock = vi.fn((input: string, init?: RequestInit) => {
    const headers = new Headers(init?.headers)
    calls.push({
      url: input,
      method: init?.method ?? 'GET',
      authorization: headers.get('Authorization'),
      csrf: headers.get('X-CSRFToken'),
      credentials: init?.credentials,
      body: typeof init?.body === 'string' ? init.body : null,
    })
    const next = responses.shift()
    if (!next) throw new Error(`unexpected request ${input}`)
    return Promise.resolve(next)
  })
  vi.stubGlobal('fetch', fetchMock)
  return calls
}

describe('auth store', () => {
  beforeEach(() => {
    localStorage.clear()
    setActivePinia(createPinia())
  })
  afterEach(() => {
    vi.unstubAllGlobals()
    onAuthLost(() => {})
  })

  it('logs in with the session cookie and keeps no token in the browser', async () => {
    const calls = recordingFetch([
      json(200, {
        code: 0,
        msg: 'success',
        data: { access_token: 'A1', refresh_token: 'R1', token_type: 'bearer', user: USER },
      }),
    ])
    const auth = useAuthStore()

    await auth.login('ada', 'secret')

    expect(calls).toEqual([
      {
        url: '/api/v1/auth/login',
        method: 'POST',
        authorization: null,
        csrf: null,
        credentials: 'same-origin',
        body: '{"username":"ada","password":"secret"}',
      },
    ])
    expect(storedValues()).toEqual({ 'anker.signed_in': '1' })
    expect(auth.user).toEqual(USER)
    expect(auth.isAuthenticated).toBe(true)
  })

  it('drops the JWTs an earlier version of the app kept in localStorage', async () => {
    localStorage.setItem('anker.access_token', 'OLD')
    localStorage.setItem('anker.refresh_token', 'R0')
    recordingFetch([json(200, { code: 0, msg: 'success', data: { access_token: 'A', refresh_token: 'R', token_type: 'bearer', user: USER } })])

    await useAuthStore().login('ada', 'secret')

    expect(storedValues()).toEqual({ 'anker.signed_in': '1' })
  })

  it('sends the CSRF cookie back on writes, never a bearer token', async () => {
    document.cookie = 'csrftoken=CSRF123'
    const calls = recordingFetch([
      json(200, { code: 0, msg: 'success', data: USER }),
      json(200, { code: 0, msg: 'success', data: null }),
    ])
    const auth = useAuthStore()

    await auth.loadUser()
    await auth.logout()

    expect(calls.map(({ url, method, authorization, csrf }) => ({ url, method, authorization, csrf }))).toEqual([
      { url: '/api/v1/auth/me', method: 'GET', authorization: null, csrf: null },
      { url: '/api/v1/auth/logout', method: 'POST', authorization: null, csrf: 'CSRF123' },
    ])
    document.cookie = 'csrftoken=; expires=Thu, 01 Jan 1970 00:00:00 GMT'
  })

  it('signs out on a 401 without retrying the request', async () => {
    localStorage.setItem('anker.signed_in', '1')
    const calls = recordingFetch([json(401, { code: 401, msg: 'Authentication credentials were not provided.', data: null })])
    const lost = vi.fn()
    onAuthLost(lost)
    const auth = useAuthStore()

    await expect(auth.loadUser()).rejects.toMatchObject({
      status: 401,
      message: 'Authentication credentials were not provided.',
    })

    expect(calls.map((call) => call.url)).toEqual(['/api/v1/auth/me'])
    expect(lost).toHaveBeenCalledTimes(1)
    expect(storedValues()).toEqual({})
  })

  it('surfaces the server message of a failed login', async () => {
    recordingFetch([json(401, { code: 401, msg: 'Invalid username or password.', data: null })])
    const auth = useAuthStore()

    await expect(auth.login('ada', 'wrong')).rejects.toMatchObject({ message: 'Invalid username or password.' })
    expect(auth.isAuthenticated).toBe(false)
    expect(storedValues()).toEqual({})
  })
})
