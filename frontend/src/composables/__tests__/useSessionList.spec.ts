import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope } from 'vue'

import { FakeSocket, fakeSocketFactory, startSignedInWithFakeSockets } from '@/__tests__/fake-socket'
import { useSessionList } from '@/composables/useSessionList'
import { useSessionsStore } from '@/stores/sessions'
import type { SessionItem } from '@/types/api'

function item(id: string, at: number, overrides: Partial<SessionItem> = {}): SessionItem {
  return {
    session_id: id,
    title: `Task ${id}`,
    latest_message: '',
    latest_message_at: at,
    status: 'completed',
    unread_message_count: 0,
    mode: 'agent',
    ...overrides,
  }
}

describe('useSessionList', () => {
  beforeEach(() => {
    startSignedInWithFakeSockets()
    // The REST preload never answers here; the socket is the source under test.
    vi.stubGlobal('fetch', vi.fn(() => new Promise<Response>(() => {})))
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  it('applies snapshot, upsert and remove frames to the sessions store', () => {
    const scope = effectScope()
    scope.run(() => useSessionList({ createSocket: fakeSocketFactory, random: () => 0.5 }))
    const store = useSessionsStore()
    const socket = FakeSocket.last
    expect(new URL(socket.url).pathname).toBe('/api/v1/ws/sessions')
    expect(new URL(socket.url).search).toBe('') // the cookie authenticates: no token in the URL
    socket.open()

    socket.receive(JSON.stringify({ op: 'snapshot', sessions: [item('a', 1), item('b', 2)] }))
    socket.receive(JSON.stringify({ op: 'upsert', session: item('a', 3, { status: 'running', unread_message_count: 2 }) }))
    socket.receive(JSON.stringify({ op: 'remove', session_id: 'b' }))
    socket.receive('not json')

    expect(store.sorted.map((s) => [s.session_id, s.status, s.unread_message_count])).toEqual([['a', 'running', 2]])
    scope.stop()
  })

  it('drops an update older than the one shown, and never brings back a removed session', () => {
    const scope = effectScope()
    scope.run(() => useSessionList({ createSocket: fakeSocketFactory, random: () => 0.5 }))
    const store = useSessionsStore()
    const socket = FakeSocket.last
    socket.open()
    socket.receive(JSON.stringify({ op: 'snapshot', sessions: [item('a', 1), item('b', 1)], revisions: { a: 4, b: 1 } }))

    // The worker read the row (revision 5: a new answer, 1 unread) before the reader marked it
    // read (revision 6), but its update arrives last.
    socket.receive(JSON.stringify({ op: 'upsert', revision: 6, session: item('a', 2, { unread_message_count: 0 }) }))
    socket.receive(JSON.stringify({ op: 'upsert', revision: 5, session: item('a', 2, { unread_message_count: 1 }) }))
    socket.receive(JSON.stringify({ op: 'upsert', revision: 3, session: item('a', 0, { title: 'older than the snapshot' }) }))
    expect(store.get('a')?.unread_message_count).toBe(0)
    expect(store.get('a')?.title).toBe('Task a')

    socket.receive(JSON.stringify({ op: 'remove', session_id: 'b' }))
    socket.receive(JSON.stringify({ op: 'upsert', revision: 9, session: item('b', 3) }))
    expect(store.sorted.map((s) => s.session_id)).toEqual(['a'])
    scope.stop()
  })

  it('takes a fresh snapshot after reconnecting', () => {
    const scope = effectScope()
    scope.run(() => useSessionList({ createSocket: fakeSocketFactory, random: () => 0.5 }))
    const store = useSessionsStore()
    FakeSocket.last.open()
    FakeSocket.last.receive(JSON.stringify({ op: 'snapshot', sessions: [item('a', 1), item('b', 2)] }))

    FakeSocket.last.serverClose(1011)
    vi.advanceTimersByTime(1000)
    FakeSocket.last.open()
    FakeSocket.last.receive(JSON.stringify({ op: 'snapshot', sessions: [item('b', 2)] }))

    expect(FakeSocket.instances).toHaveLength(2)
    expect(store.sorted.map((s) => s.session_id)).toEqual(['b'])
    scope.stop()
  })
})
