import { describe, expect, it, vi } from 'vitest'
import { effectScope, nextTick, ref } from 'vue'

import { handBackMessage, useTakeover } from '@/composables/useTakeover'

describe('useTakeover', () => {
  function start(accepted: boolean) {
    const id = ref('s1')
    const send = vi.fn(() => Promise.resolve(accepted))
    const scope = effectScope()
    const takeover = scope.run(() => useTakeover(id, send))!
    return { id, send, scope, takeover }
  }

  it('hands back with the note as the next message and closes once it is accepted', async () => {
    const { send, scope, takeover } = start(true)
    takeover.start()
    expect(takeover.active.value).toBe(true)

    const pending = takeover.handBack('Logged in')
    expect(takeover.handingBack.value).toBe(true)
    await pending

    expect(send).toHaveBeenCalledWith({ message: 'I took over the browser and did: Logged in; continue.', attachments: [] })
    expect([takeover.active.value, takeover.handingBack.value]).toEqual([false, false])
    scope.stop()
  })

  it('stays in control when the message is refused, so the note is not lost', async () => {
    const { scope, takeover } = start(false)
    takeover.start()

    await takeover.handBack('')

    expect([takeover.active.value, takeover.handingBack.value]).toEqual([true, false])
    scope.stop()
  })

  it('says plainly that the browser was handed back when there is no note', () => {
    expect(handBackMessage('')).toBe('I took over the browser and handed it back; continue.')
  })

  it('ends without a message on exit or when another session opens', async () => {
    const { id, send, scope, takeover } = start(true)
    takeover.start()
    takeover.exit()
    expect(takeover.active.value).toBe(false)

    takeover.start()
    id.value = 's2'
    await nextTick()

    expect(takeover.active.value).toBe(false)
    expect(send).not.toHaveBeenCalled()
    scope.stop()
  })
})
