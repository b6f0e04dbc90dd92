import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope, nextTick, ref } from 'vue'

import { fakeApi } from '@/__tests__/fake-api'
import { useTurnActions } from '@/composables/useTurnActions'

describe('useTurnActions', () => {
  beforeEach(() => localStorage.setItem('anker.signed_in', '1'))
  afterEach(() => vi.unstubAllGlobals())

  function start(id = ref('s1')) {
    const scope = effectScope()
    const started = vi.fn()
    const actions = scope.run(() => useTurnActions(id, started))!
    return { scope, id, started, actions }
  }

  it('sends a message as JSON and asks for the JSON answer, never the SSE stream', async () => {
    const { seen } = fakeApi({ 'POST /sessions/s1/chat': { data: { turn_id: 't1', status: 'queued' } } })
    const { scope, started, actions } = start()

    const ok = await actions.send({ message: 'Hi', attachments: [{ file_id: 'f1' } as never] })

    expect(ok).toBe(true)
    expect(started).toHaveBeenCalledOnce()
    expect(seen).toHaveLength(1)
    expect(seen[0]!.headers.Accept).toBe('application/json')
    expect(seen[0]!.body).toMatchObject({ message: 'Hi', attachments: ['f1'] })
    expect(actions.actionError.value).toBeNull()
    scope.stop()
  })

  it('keeps the server sentence of a refused message and reports it unsent', async () => {
    fakeApi({ 'POST /sessions/s1/chat': { status: 409, msg: 'The session is still answering a message.' } })
    const { scope, started, actions } = start()

    const ok = await actions.send({ message: 'Hi', attachments: [] })

    expect(ok).toBe(false)
    expect(started).not.toHaveBeenCalled()
    expect(actions.actionError.value).toBe('The session is still answering a message.')
    scope.stop()
  })

  it('stops and retries through their endpoints, showing `stopping`/`retrying` meanwhile', async () => {
    const { seen } = fakeApi({
      'POST /sessions/s1/stop': { data: null },
      'POST /sessions/s1/retry': { data: { turn_id: 't2' } },
    })
    const { scope, started, actions } = start()

    const stopping = actions.stop()
    expect(actions.stopping.value).toBe(true)
    await stopping
    const retrying = actions.retry()
    expect(actions.retrying.value).toBe(true)
    await retrying

    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /sessions/s1/stop', 'POST /sessions/s1/retry'])
    expect([actions.stopping.value, actions.retrying.value]).toEqual([false, false])
    expect(started).toHaveBeenCalledOnce()
    scope.stop()
  })

  it('forgets the last error when another session opens', async () => {
    fakeApi({ 'POST /sessions/s1/stop': { status: 404, msg: 'Session not found' } })
    const { scope, id, actions } = start()
    await actions.stop()
    expect(actions.actionError.value).toBe('Session not found')

    id.value = 's2'
    await nextTick()

    expect(actions.actionError.value).toBeNull()
    scope.stop()
  })
})
