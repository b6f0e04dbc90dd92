/**
 * A WebSocket that reconnects with exponential backoff (1 s doubling to 30 s, with
 * jitter) and asks for a fresh URL on every attempt, so callers can resume from their
 * last seq and pick up a refreshed token. Used only inside the stream composables.
 */

/** The part of the WebSocket API this module uses; tests inject a fake. */
export interface SocketLike {
  onopen: ((event: Event) => void) | null
  onmessage: ((event: MessageEvent) => void) | null
  onclose: ((event: CloseEvent) => void) | null
  onerror: ((event: Event) => void) | null
  close(code?: number, reason?: string): void
}

export type SocketFactory = (url: string) => SocketLike

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'stopped'

/** What to do after the server closed the socket. */
export type CloseDecision = 'retry' | 'retry-now' | 'stop'

export interface ReconnectingSocketOptions {
  url: () => string
  onMessage: (frame: unknown) => void
  onOpen?: () => void
  onStateChange?: (state: ConnectionState) => void
  /** Decides on a server close (auth failures, not-found). Default: retry. */
  onClose?: (code: number) => CloseDecision | Promise<CloseDecision>
  createSocket?: SocketFactory
  random?: () => number
  baseDelayMs?: number
  maxDelayMs?: number
}

export const BASE_DELAY_MS = 1_000
export const MAX_DELAY_MS = 30_000

/** Delay before reconnect attempt `attempt` (0-based): base·2^attempt, ±50 % jitter, capped. */
export function backoffDelay(
  attempt: number,
  random: () => number = Math.random,
  base = BASE_DELAY_MS,
  max = MAX_DELAY_MS,
): number {
  const exponential = Math.min(max, base * 2 ** attempt)
  return Math.min(max, Math.round(exponential * (0.5 + random())))
}

const defaultFactory: SocketFactory = (url) => new WebSocket(url)

export class ReconnectingSocket {
  private socket: SocketLike | null = null
  private timer: ReturnType<typeof setTimeout> | null = null
  private attempt = 0
  private stopped = true
  private readonly options: ReconnectingSocketOptions
  state: ConnectionState = 'idle'

  constructor(options: ReconnectingSocketOptions) {
    this.options = options
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.attempt = 0
    this.connect()
  }

  stop(): void {
    this.stopped = true
    this.clearTimer()
    const socket = this.socket
    this.socket = null
    if (socket) {
      socket.onclose = null
      socket.onmessage = null
      socket.onerror = null
      socket.onopen = null
      socket.close(1000, 'client closed')
    }
    this.setState('stopped')
  }

  /** Reconnects now (e.g. the browser came back online), skipping any pending backoff. */
  reconnectNow(): void {
    if (this.stopped || this.state === 'open' || this.state === 'connecting') return
    this.clearTimer()
    this.connect()
  }

  private setState(state: ConnectionState): void {
    this.state = state
    this.options.onStateChange?.(state)
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
  }

  private connect(): void {
    if (this.stopped) return
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting')
    const factory = this.options.createSocket ?? defaultFactory
    let socket: SocketLike
    try {
      socket = factory(this.options.url())
    } catch {
      this.scheduleRetry()
      return
    }
    this.socket = socket
    socket.onopen = () => {
      this.attempt = 0
      this.setState('open')
      this.options.onOpen?.()
    }
    socket.onmessage = (event: MessageEvent) => {
      if (typeof event.data !== 'string') return
      let frame: unknown
      try {
        frame = JSON.parse(event.data)
      } catch {
        return
      }
      this.options.onMessage(frame)
    }
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return
      this.socket = null
      this.handleClose(event.code)
    }
  }

  private handleClose(code: number): void {
    if (this.stopped) return
    const decision = this.options.onClose ? this.options.onClose(code) : 'retry'
    if (decision instanceof Promise) {
      decision.then(
        (resolved) => this.applyDecision(resolved),
        () => this.applyDecision('retry'),
      )
    } else {
      this.applyDecision(decision)
    }
  }

  private applyDecision(decision: CloseDecision): void {
    if (this.stopped) return
    if (decision === 'stop') {
      this.stopped = true
      this.setState('stopped')
    } else if (decision === 'retry-now') {
      this.connect()
    } else {
      this.scheduleRetry()
    }
  }

  private scheduleRetry(): void {
    const delay = backoffDelay(
      this.attempt,
      this.options.random,
      this.options.baseDelayMs,
      this.options.maxDelayMs,
    )
    this.attempt += 1
    this.setState('reconnecting')
    this.timer = setTimeout(() => {
      this.timer = null
      this.connect()
    }, delay)
  }
}
