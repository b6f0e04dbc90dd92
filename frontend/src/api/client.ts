/**
 * The one HTTP client: unwraps the `{code, msg, data}` envelope, rides the session cookie
 * (same-origin), adds the CSRF token to writes, and reports a lost session (a 401) through
 * the handler the app registers.
 */
import type { Envelope } from '@/types/api'
import { clearSignIn, csrfHeaders } from './tokens'

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

/** Forgets the sign-in and tells the app to sign in again. */
export function reportAuthLost(): void {
  clearSignIn()
  authLostHandler()
}

export interface RequestOptions {
  method?: string
  /** JSON-serialised unless it is FormData. */
  body?: unknown
  /** A 401 signs the app out (default true); false for the login call itself. */
  auth?: boolean
  signal?: AbortSignal
  headers?: Record<string, string>
}

function buildInit(options: RequestOptions): RequestInit {
  const method = options.method ?? 'GET'
  const headers: Record<string, string> = { Accept: 'application/json', ...csrfHeaders(method), ...options.headers }
  let body: BodyInit | undefined
  if (options.body instanceof FormData) {
    body = options.body
  } else if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(options.body)
  }
  return { method, headers, body, signal: options.signal, credentials: 'same-origin' }
}

/**
 * `fetch` with the session cookie; a 401 signs the app out. Returns the raw response
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
  if (response.status === 401 && options.auth !== false) reportAuthLost()
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
