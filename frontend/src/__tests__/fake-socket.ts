/** A scriptable stand-in for WebSocket (tests only). */
import { createPinia, setActivePinia } from 'pinia'
import { vi } from 'vitest'

import type { SocketLike } from '@/lib/reconnecting-socket'

export class FakeSocket implements SocketLike {
  static instances: FakeSocket[] = []
  onopen: ((event: Event) => void) | null = null
  onmessage: ((event: MessageEvent) => void) | null = null
  onclose: ((event: CloseEvent) => void) | null = null
  onerror: ((event: Event) => void) | null = null
  closedByClient: { code?: number; reason?: string } | null = null
  readonly url: string

  constructor(url: string) {
    this.url = url
    FakeSocket.instances.push(this)
  }

  static reset(): void {
    FakeSocket.instances = []
  }

  static get last(): FakeSocket {
    const socket = FakeSocket.instances[FakeSocket.instances.length - 1]
    if (!socket) throw new Error('no socket was opened')
    return socket
  }

  open(): void {
    this.onopen?.(new Event('open'))
  }

  receive(data: string): void {
    this.onmessage?.(new MessageEvent('message', { data }))
  }

  /** The server (or the network) closes the socket. */
  serverClose(code: number): void {
    this.onclose?.(new CloseEvent('close', { code }))
  }

  close(code?: number, reason?: string): void {
    this.closedByClient = { code, reason }
  }
}

export const fakeSocketFactory = (url: string): FakeSocket => new FakeSocket(url)

/** Where a socket composable's test starts: signed in, fresh stores, fake timers, no socket yet. */
export function startSignedInWithFakeSockets(): void {
  vi.useFakeTimers()
  localStorage.clear()
  localStorage.setItem('anker.signed_in', '1')
  setActivePinia(createPinia())
  FakeSocket.reset()
}
