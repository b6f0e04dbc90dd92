import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'

import { useSessionsStore } from '@/stores/sessions'
import type { SessionItem } from '@/types/api'

function item(id: string, at: number | null, overrides: Partial<SessionItem> = {}): SessionItem {
  return {
    session_id: id,
    title: `Task ${id}`,
    latest_message: `latest ${id}`,
    latest_message_at: at,
    status: 'completed',
    unread_message_count: 0,
    mode: 'agent',
    ...overrides,
  }
}

describe('sessions store', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('sorts by latest message time, newest first, sessions without messages last', () => {
    const store = useSessionsStore()
    store.replaceAll([item('a', 100), item('b', null), item('c', 300), item('d', 200)])

    expect(store.sorted.map((s) => s.session_id)).toEqual(['c', 'd', 'a', 'b'])
  })

  it('upserts in place and re-sorts', () => {
    const store = useSessionsStore()
    store.replaceAll([item('a', 100), item('b', 200)])

    store.upsert(item('a', 300, { status: 'running', title: 'Renamed' }))
    store.upsert(item('c', 50))

    expect(store.sorted.map((s) => [s.session_id, s.title, s.status])).toEqual([
      ['a', 'Renamed', 'running'],
      ['b', 'Task b', 'completed'],
      ['c', 'Task c', 'completed'],
    ])
  })

  it('removes a session', () => {
    const store = useSessionsStore()
    store.replaceAll([item('a', 100), item('b', 200)])

    store.remove('b')

    expect(store.sorted.map((s) => s.session_id)).toEqual(['a'])
    expect(store.get('b')).toBeUndefined()
  })

  it('replaces everything on a snapshot', () => {
    const store = useSessionsStore()
    store.replaceAll([item('a', 100)])

    store.replaceAll([item('z', 1)])

    expect(store.sorted.map((s) => s.session_id)).toEqual(['z'])
    expect(store.live).toBe(true)
  })

  it('filters by title or latest message, case-insensitively', () => {
    const store = useSessionsStore()
    store.replaceAll([
      item('a', 3, { title: 'Compare Vector DBs' }),
      item('b', 2, { latest_message: 'The vector index is ready' }),
      item('c', 1, { title: 'Landing page' }),
    ])

    expect(store.filtered('VECTOR').map((s) => s.session_id)).toEqual(['a', 'b'])
    expect(store.filtered('  ').map((s) => s.session_id)).toEqual(['a', 'b', 'c'])
  })
})
