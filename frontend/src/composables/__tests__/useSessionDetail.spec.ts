import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope, nextTick, ref } from 'vue'

import { fakeApi, settle } from '@/__tests__/fake-api'
import { useSessionDetail } from '@/composables/useSessionDetail'

const S1 = { session_id: 's1', title: 'Report', status: 'completed', mode: 'agent' }
const S2 = { session_id: 's2', title: 'Haiku', status: 'running', mode: 'lite' }

describe('useSessionDetail', () => {
  beforeEach(() => localStorage.setItem('anker.signed_in', '1'))
  afterEach(() => vi.unstubAllGlobals())

  it('reads the session once, and again (from null) when another session opens', async () => {
    const { seen } = fakeApi({ 'GET /sessions/s1': { data: S1 }, 'GET /sessions/s2': { data: S2 } })
    const scope = effectScope()
    const id = ref('s1')
    const { detail } = scope.run(() => useSessionDetail(id))!
    await settle()
    expect(detail.value).toEqual(S1)

    id.value = 's2'
    await nextTick()
    expect(detail.value).toBeNull()
    await settle()

    expect(detail.value).toEqual(S2)
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /sessions/s1', 'GET /sessions/s2'])
    scope.stop()
  })

  it('drops a late answer for a session that is no longer shown', async () => {
    let answerS1: (r: Response) => void = () => {}
    fakeApi({
      'GET /sessions/s1': () => new Promise<Response>((resolve) => (answerS1 = resolve)),
      'GET /sessions/s2': { data: S2 },
    })
    const scope = effectScope()
    const id = ref('s1')
    const { detail } = scope.run(() => useSessionDetail(id))!
    id.value = 's2'
    await nextTick()
    await settle()

    answerS1(new Response(JSON.stringify({ code: 0, msg: 'success', data: S1 }), { status: 200 }))
    await settle()

    expect(detail.value).toEqual(S2)
    scope.stop()
  })

  it('leaves null when the session cannot be read', async () => {
    fakeApi({ 'GET /sessions/gone': { status: 404, msg: 'Session not found' } })
    const scope = effectScope()
    const { detail } = scope.run(() => useSessionDetail('gone'))!
    await settle()

    expect(detail.value).toBeNull()
    scope.stop()
  })
})
