import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { onAuthLost } from '@/api/client'
import { getAccessToken, getRefreshToken, storeTokens } from '@/api/tokens'
import { useAuthStore } from '@/stores/auth'

const USER = { id: 7, username: 'ada', email: 'ada@example.com', is_staff: false }

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

interface Call {
  url: string
  method: string
  authorization: string | null
  body: string | null
}

function recordingFetch(responses: Response[]) {
  const calls: Call[] = []
  const fetchMock = vi.fn((input: string, init?: RequestInit) => {
    const headers = new Headers(init?.headers)
    calls.push({
      url: input,
      method: init?.method ?? 'GET',
      authorization: headers.get('Authorization'),
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

  it('logs in and keeps the token pair and user', async () => {
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
      { url: '/api/v1/auth/login', method: 'POST', authorization: null, body: '{"username":"ada","password":"secret"}' },
    ])
    expect(getAccessToken()).toBe('A1')
    expect(getRefreshToken()).toBe('R1')
    expect(auth.user).toEqual(USER)
    expect(auth.isAuthenticated).toBe(true)
  })

  it('refreshes the token once on 401 and retries the request with the new token', async () => {
    storeTokens({ access_token: 'OLD', refresh_token: 'R1' })
    const calls = recordingFetch([
      json(401, { code: 401, msg: 'Token expired.', data: null }),
      json(200, { code: 0, msg: 'success', data: { access_token: 'NEW', refresh_token: 'R2', token_type: 'bearer' } }),
      json(200, { code: 0, msg: 'success', data: USER }),
    ])
    const lost = vi.fn()
    onAuthLost(lost)
    const auth = useAuthStore()

    const me = await auth.loadUser()

    expect(calls).toEqual([
      { url: '/api/v1/auth/me', method: 'GET', authorization: 'Bearer OLD', body: null },
      { url: '/api/v1/auth/refresh', method: 'POST', authorization: null, body: '{"refresh_token":"R1"}' },
      { url: '/api/v1/auth/me', method: 'GET', authorization: 'Bearer NEW', body: null },
    ])
    expect(me).toEqual(USER)
    expect(getAccessToken()).toBe('NEW')
    expect(getRefreshToken()).toBe('R2')
    expect(lost).not.toHaveBeenCalled()
  })

  it('signs out when the refresh is rejected, without retrying the request', async () => {
    storeTokens({ access_token: 'OLD', refresh_token: 'EXPIRED' })
    const calls = recordingFetch([
      json(401, { code: 401, msg: 'Token expired.', data: null }),
      json(401, { code: 401, msg: 'Refresh token is invalid.', data: null }),
    ])
    const lost = vi.fn()
    onAuthLost(lost)
    const auth = useAuthStore()

    await expect(auth.loadUser()).rejects.toMatchObject({ status: 401, message: 'Token expired.' })

    expect(calls.map((call) => call.url)).toEqual(['/api/v1/auth/me', '/api/v1/auth/refresh'])
    expect(lost).toHaveBeenCalledTimes(1)
    expect(getAccessToken()).toBeNull()
    expect(getRefreshToken()).toBeNull()
  })

  it('shares one refresh between concurrent 401s', async () => {
    storeTokens({ access_token: 'OLD', refresh_token: 'R1' })
    const calls = recordingFetch([
      json(401, { code: 401, msg: 'expired', data: null }),
      json(401, { code: 401, msg: 'expired', data: null }),
      json(200, { code: 0, msg: 'success', data: { access_token: 'NEW', refresh_token: 'R2', token_type: 'bearer' } }),
      json(200, { code: 0, msg: 'success', data: USER }),
      json(200, { code: 0, msg: 'success', data: USER }),
    ])
    const auth = useAuthStore()

    await Promise.all([auth.loadUser(), auth.loadUser()])

    expect(calls.filter((call) => call.url === '/api/v1/auth/refresh')).toHaveLength(1)
    expect(calls.slice(3).map((call) => call.authorization)).toEqual(['Bearer NEW', 'Bearer NEW'])
  })

  it('surfaces the server message of a failed login', async () => {
    recordingFetch([json(401, { code: 401, msg: 'Invalid username or password.', data: null })])
    const auth = useAuthStore()

    await expect(auth.login('ada', 'wrong')).rejects.toMatchObject({ message: 'Invalid username or password.' })
    expect(auth.isAuthenticated).toBe(false)
    expect(getAccessToken()).toBeNull()
  })
})
