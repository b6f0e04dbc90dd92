import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { effectScope, ref } from 'vue'

import * as ev from '@/__tests__/events'
import { useSessionStatus } from '@/composables/useSessionStatus'
import { useSessionsStore } from '@/stores/sessions'
import { useTimelineStore } from '@/stores/timeline'
import type { SessionDetail, SessionItem } from '@/types/api'

function listItem(overrides: Partial<SessionItem>): SessionItem {
  return {
    session_id: 's1',
    title: 'From the list',
    latest_message: '',
    latest_message_at: null,
    status: 'running',
    unread_message_count: 0,
    mode: 'agent',
    ...overrides,
  }
}

describe('useSessionStatus', () => {
  beforeEach(() => setActivePinia(createPinia()))

  function start() {
    const detail = ref<SessionDetail | null>(null)
    const scope = effectScope()
    const status = scope.run(() => useSessionStatus('s1', detail))!
    useTimelineStore().reset('s1')
    return { detail, status }
  }

  it('says what the REST detail says while nothing fresher is known', () => {
    const { detail, status } = start()
    expect([status.status.value, status.statusLabel.value, status.title.value]).toEqual([null, '', ''])

    detail.value = { session_id: 's1', title: 'From REST', status: 'waiting', mode: 'lite' }

    expect([status.status.value, status.statusLabel.value, status.title.value]).toEqual([
      'waiting',
      'Waiting for you',
      'From REST',
    ])
    expect([status.lite.value, status.running.value]).toEqual([true, false])
  })

  it('prefers the list socket over REST, and the session events over both', () => {
    const { detail, status } = start()
    detail.value = { session_id: 's1', title: 'From REST', status: 'pending', mode: 'lite' }
    useSessionsStore().upsert(listItem({ status: 'running', mode: 'agent' }))

    expect([status.status.value, status.title.value, status.mode.value]).toEqual([
      'running',
      'From the list',
      'agent',
    ])
    expect(status.running.value).toBe(true)

    const timeline = useTimelineStore()
    timeline.apply(ev.status(1, 'stopped'))
    timeline.apply(ev.title(2, 'From the events'))

    expect([status.status.value, status.statusLabel.value, status.title.value]).toEqual([
      'stopped',
      'Stopped',
      'From the events',
    ])
    expect(status.running.value).toBe(false)
  })
})
