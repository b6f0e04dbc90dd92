import { onScopeDispose, ref, toValue, watch } from 'vue'
import type { MaybeRefOrGetter, Ref } from 'vue'
import type RFB from '@novnc/novnc'

import { errorMessage, wsUrl } from '@/api/client'
import { createVncTicket } from '@/api/sessions'
import { backoffDelay } from '@/lib/reconnecting-socket'

export type VncState = 'idle' | 'connecting' | 'connected' | 'reconnecting'

function socketUrl(url: string): string {
  return /^wss?:\/\//.test(url) ? url : wsUrl(url)
}

/**
 * Owns one noVNC connection to the session's sandbox desktop, through the backend's VNC
 * proxy. Every (re)connect gets a fresh single-use ticket; view-only unless `viewOnly`
 * is false (take-over). Reconnects with the same backoff as the event streams.
 */
export function useVnc(
  target: Ref<HTMLElement | null>,
  sessionId: MaybeRefOrGetter<string>,
  viewOnly: MaybeRefOrGetter<boolean>,
) {
  const state = ref<VncState>('idle')
  const error = ref<string | null>(null)
  let rfb: RFB | null = null
  let timer: ReturnType<typeof setTimeout> | null = null
  let attempt = 0
  let generation = 0

  function teardown(): void {
    generation++
    if (timer !== null) clearTimeout(timer)
    timer = null
    const current = rfb
    rfb = null
    if (current) {
      try {
        current.disconnect()
      } catch {
        // Already gone.
      }
    }
  }

  function scheduleReconnect(mine: number): void {
    if (mine !== generation) return
    state.value = 'reconnecting'
    timer = setTimeout(() => void connect(mine), backoffDelay(attempt))
    attempt += 1
  }

  async function connect(mine: number): Promise<void> {
    const el = target.value
    if (!el || mine !== generation) return
    if (state.value !== 'reconnecting') state.value = 'connecting'
    try {
      const only = toValue(viewOnly)
      const [module, ticket] = await Promise.all([
        import('@novnc/novnc'),
        createVncTicket(toValue(sessionId), only),
      ])
      if (mine !== generation) return
      const instance = new module.default(el, socketUrl(ticket.url), { wsProtocols: ['binary'] })
      instance.viewOnly = only
      instance.scaleViewport = true
      instance.resizeSession = false
      instance.background = 'transparent'
      instance.addEventListener('connect', () => {
        if (mine !== generation) return
        attempt = 0
        error.value = null
        state.value = 'connected'
      })
      instance.addEventListener('disconnect', () => {
        if (mine !== generation) return
        rfb = null
        scheduleReconnect(mine)
      })
      instance.addEventListener('securityfailure', () => {
        error.value = 'The desktop refused the connection.'
      })
      rfb = instance
    } catch (err) {
      if (mine !== generation) return
      error.value = errorMessage(err)
      scheduleReconnect(mine)
    }
  }

  watch(
    () => [target.value, toValue(sessionId), toValue(viewOnly)] as const,
    ([el]) => {
      teardown()
      attempt = 0
      error.value = null
      state.value = 'idle'
      if (el) void connect(generation)
    },
    { immediate: true, flush: 'post' },
  )

  onScopeDispose(teardown)

  return { state, error }
}
