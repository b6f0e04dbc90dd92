/**
 * The one HTTP client: unwraps the `{code, msg, data}` envelope, adds the Bearer token,
 * refreshes it once on a 401 (single-flight across concurrent requests) and reports a
 * lost session through the handler the app registers.
 */
import type { Envelope, TokenPair } from '@/types/api'
import { clearTokens, getAccessToken, getRefreshToken, storeTokens } from './tokens'

export const API_PREFIX = '/api/v1'

/** The server answered with an error envelope (or something that was not one). */
export class ApiError extends Error {
  readonly status: number
  readonly code: number
  readonly data: unknown
  /** False when the answer was not an Anker envelope (a proxy's error page, a static 404). */
  readonly fromEnvelope: boolean

  constructor(status: number, code: number, message: string, data: unknown = null, fromEnvelope = true) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.data = data
    this.fromEnvelope = fromEnvelope
  }
}

/** The request never got an HTTP answer (server down, DNS, offline, CORS). */
export class NetworkError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'NetworkError'
  }
}

let authLostHandler: () => void = () => {}

/** Registers what happens when the session cannot be refreshed (the app goes to /login). */
export function onAuthLost(handler: () => void): void {
  authLostHandler = handler
}

/** Clears the tokens and tells the app to sign in again. */
export function reportAuthLost(): void {
  clearTokens()
  authLostHandler()
}

let refreshInFlight: Promise<boolean> | null = null

/**
 * Trades the refresh token for a new pair. Concurrent callers share one request.
 * Resolves false (and keeps nothing) when the refresh token is missing or rejected.
 */
export function refreshTokens(): Promise<boolean> {
  refreshInFlight ??= doRefresh().finally(() => {
    refreshInFlight = null
  })
  return refreshInFlight
}

async function doRefresh(): Promise<boolean> {
  const refresh = getRefreshToken()
  if (!refresh) return false
  let response: Response
  try {
    response = await fetch(`${API_PREFIX}/auth/refresh`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ refresh_token: refresh }),
    })
  } catch {
    return false
  }
  if (!response.ok) return false
  try {
    const body = (await response.json()) as Envelope<TokenPair>
    if (body.code !== 0 || !body.data.access_token) return false
    storeTokens(body.data)
    return true
  } catch {
    return false
  }
}

export interface RequestOptions {
  method?: string
  /** JSON-serialised unless it is FormData. */
  body?: unknown
  /** Send the Bearer token and refresh on 401 (default true). */
  auth?: boolean
  signal?: AbortSignal
  headers?: Record<string, string>
}

function buildInit(options: RequestOptions): RequestInit {
  const headers: Record<string, string> = { Accept: 'application/json', ...options.headers }
  let body: BodyInit | undefined
  if (options.body instanceof FormData) {
    body = options.body
  } else if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(options.body)
  }
  if (options.auth !== false) {
    const token = getAccessToken()
    if (token) headers.Authorization = `Bearer ${token}`
  }
  return { method: options.method ?? 'GET', headers, body, signal: options.signal }
}

/**
 * `fetch` with the token and one refresh-and-retry on 401. Returns the raw response
 * (for downloads and the chat stream); a network failure becomes a NetworkError.
 */
export async function authorizedFetch(path: string, options: RequestOptions = {}): Promise<Response> {
  const send = async (): Promise<Response> => {
    try {
      return await fetch(`${API_PREFIX}${path}`, buildInit(options))
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') throw error
      throw new NetworkError(`Cannot reach the Anker server at ${window.location.origin}`)
    }
  }
  const response = await send()
  if (response.status !== 401 || options.auth === false) return response
  if (await refreshTokens()) {
    const retried = await send()
    if (retried.status !== 401) return retried
  }
  reportAuthLost()
  return response
}

/** Reads an envelope from a response, throwing ApiError for anything but `code: 0`. */
export async function readEnvelope<T>(response: Response): Promise<T> {
  let body: Envelope<T> | null = null
  try {
    body = (await response.json()) as Envelope<T>
  } catch {
    body = null
  }
  if (!body || typeof body !== 'object' || typeof body.code !== 'number') {
    throw new ApiError(
      response.status,
      response.status,
      `Unexpected response from the server (HTTP ${response.status})`,
      null,
      false,
    )
  }
  if (!response.ok || body.code !== 0) {
    const code = body.code === 0 ? response.status : body.code
    throw new ApiError(response.status, code, body.msg || `Request failed (HTTP ${response.status})`, body.data)
  }
  return body.data
}

/** A JSON API call: returns the envelope's `data`. */
export async function apiRequest<T>(path: string, options: RequestOptions = {}): Promise<T> {
  return readEnvelope<T>(await authorizedFetch(path, options))
}

/** Absolute ws:// or wss:// URL for a same-origin path. */
export function wsUrl(path: string): string {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${window.location.host}${path}`
}

/** A readable sentence for any error thrown by this module (or anything else). */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError || error instanceof NetworkError) return error.message
  if (error instanceof Error) return error.message
  return 'Something went wrong.'
}
