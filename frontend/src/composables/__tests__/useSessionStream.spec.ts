import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope, nextTick, ref } from 'vue'

import * as ev from '@/__tests__/events'
import { FakeSocket, fakeSocketFactory, startSignedInWithFakeSockets } from '@/__tests__/fake-socket'
import { useSessionStream } from '@/composables/useSessionStream'
import type { MessageItem } from '@/lib/timeline'
import { backoffDelay } from '@/lib/reconnecting-socket'
import { useTimelineStore } from '@/stores/timeline'

function query(url: string): Record<string, string> {
  return Object.fromEntries(new URL(url).searchParams.entries())
}

describe('useSessionStream', () => {
  beforeEach(() => {
    startSignedInWithFakeSockets()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  function start(sessionId = 's1') {
    const scope = effectScope()
    const id = ref<string | null>(sessionId)
    const stream = scope.run(() =>
      useSessionStream(id, { createSocket: fakeSocketFactory, random: () => 0.5 }),
    )!
    return { scope, id, stream, timeline: useTimelineStore() }
  }

  it('connects to the session socket from seq 0 with no token in the URL (the cookie authenticates)', () => {
    const { scope } = start()

    expect(FakeSocket.instances).toHaveLength(1)
    const url = new URL(FakeSocket.last.url)
    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe('ws://localhost:3000/api/v1/ws/sessions/s1')
    expect(query(FakeSocket.last.url)).toEqual({ after: '0' })
    scope.stop()
  })

  it('applies replayed and live events into the timeline', () => {
    const { scope, stream, timeline } = start()
    FakeSocket.last.open()
    expect(stream.connection.value).toBe('open')

    FakeSocket.last.receive(ev.frame(ev.userMessage(1, 'Hi')))
    FakeSocket.last.receive(ev.frame(ev.delta(2, 'Hel')))
    FakeSocket.last.receive(ev.frame(ev.delta(3, 'lo')))

    expect(timeline.state.lastSeq).toBe(3)
    expect(timeline.state.items.map((item) => (item as MessageItem).content)).toEqual(['Hi', 'Hello'])
    scope.stop()
  })

  it('reconnects with backoff after a drop and resumes after the last seq without duplicates', () => {
    const { scope, stream, timeline } = start()
    const first = FakeSocket.last
    first.open()
    first.receive(ev.frame(ev.userMessage(1, 'Hi')))
    first.receive(ev.frame(ev.delta(2, 'A')))

    first.serverClose(1006)
    expect(stream.connection.value).toBe('reconnecting')
    vi.advanceTimersByTime(999)
    expect(FakeSocket.instances).toHaveLength(1)
    vi.advanceTimersByTime(1)
    expect(FakeSocket.instances).toHaveLength(2)

    const second = FakeSocket.last
    expect(query(second.url)).toEqual({ after: '2' })
    second.open()
    // A server that replays from an older point: the overlap is dropped.
    second.receive(ev.frame(ev.userMessage(1, 'Hi')))
    second.receive(ev.frame(ev.delta(2, 'A')))
    second.receive(ev.frame(ev.delta(3, 'B')))

    expect(timeline.state.items.map((item) => (item as MessageItem).content)).toEqual(['Hi', 'AB'])
    expect(timeline.state.lastSeq).toBe(3)
    scope.stop()
  })

  it('doubles the delay while the server stays unreachable, capped at 30 s', () => {
    const { scope } = start()
    const delays: number[] = []
    for (let attempt = 0; attempt < 7; attempt++) {
      const before = FakeSocket.instances.length
      FakeSocket.last.serverClose(1006)
      let waited = 0
      while (FakeSocket.instances.length === before && waited < 120_000) {
        vi.advanceTimersByTime(100)
        waited += 100
      }
      delays.push(waited)
    }

    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000])
    scope.stop()
  })

  it('resets the backoff once a connection opens', () => {
    const { scope } = start()
    FakeSocket.last.serverClose(1006)
    vi.advanceTimersByTime(1000)
    FakeSocket.last.serverClose(1006)
    vi.advanceTimersByTime(2000)
    expect(FakeSocket.instances).toHaveLength(3)

    FakeSocket.last.open()
    FakeSocket.last.serverClose(1006)
    vi.advanceTimersByTime(1000)

    expect(FakeSocket.instances).toHaveLength(4)
    scope.stop()
  })

  it('stops on 4004 and reports the session as not found', () => {
    const { scope, stream } = start()
    FakeSocket.last.serverClose(4004)
    vi.advanceTimersByTime(60_000)

    expect(stream.notFound.value).toBe(true)
    expect(FakeSocket.instances).toHaveLength(1)
    scope.stop()
  })

  it('signs out on 4001 (the cookie session ended) and stops reconnecting', async () => {
    const fetchMock = vi.fn()
    vi.stubGlobal('fetch', fetchMock)
    const { scope } = start()
    FakeSocket.last.open()

    FakeSocket.last.serverClose(4001)
    await vi.advanceTimersByTimeAsync(60_000)

    expect(fetchMock).not.toHaveBeenCalled()
    expect(FakeSocket.instances).toHaveLength(1)
    expect(localStorage.getItem('anker.signed_in')).toBeNull()
    scope.stop()
    vi.unstubAllGlobals()
  })

  it('closes the socket and starts over when the session changes', async () => {
    const { scope, id, timeline } = start()
    const first = FakeSocket.last
    first.open()
    first.receive(ev.frame(ev.userMessage(5, 'Old session')))

    id.value = 's2'
    await nextTick()

    expect(first.closedByClient).toEqual({ code: 1000, reason: 'client closed' })
    expect(query(FakeSocket.last.url)).toEqual({ after: '0' })
    expect(timeline.sessionId).toBe('s2')
    expect(timeline.state.items).toEqual([])
    // A late frame from the old socket is ignored.
    first.receive(ev.frame(ev.userMessage(6, 'late')))
    expect(timeline.state.items).toEqual([])
    scope.stop()
  })

  it('closes the socket when its scope is disposed', () => {
    const { scope } = start()
    const socket = FakeSocket.last
    scope.stop()
    socket.serverClose(1006)
    vi.advanceTimersByTime(60_000)

    expect(socket.closedByClient).toEqual({ code: 1000, reason: 'client closed' })
    expect(FakeSocket.instances).toHaveLength(1)
  })
})

describe('backoffDelay', () => {
  it('jitters ±50 % around base·2^attempt and never exceeds 30 s', () => {
    expect(backoffDelay(0, () => 0)).toBe(500)
    expect(backoffDelay(0, () => 0.999)).toBe(1499)
    expect(backoffDelay(3, () => 0.5)).toBe(8000)
    expect(backoffDelay(10, () => 0.999)).toBe(30000)
  })
})
