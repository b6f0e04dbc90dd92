import { onScopeDispose, readonly, ref, toValue, watch } from 'vue'
import type { MaybeRefOrGetter } from 'vue'

import { API_PREFIX, wsUrl } from '@/api/client'
import { ReconnectingSocket } from '@/lib/reconnecting-socket'
import type { ConnectionState, SocketFactory } from '@/lib/reconnecting-socket'
import { useTimelineStore } from '@/stores/timeline'
import { parseEventFrame } from '@/types/session-events'
import { decideOnClose } from './socket-auth'

export interface StreamOptions {
  createSocket?: SocketFactory
  random?: () => number
}

/**
 * Owns the session WebSocket: replays stored events then follows live ones into the
 * timeline store. Reconnects with backoff, resuming after the last applied seq; the
 * store drops any seq it has already applied, so nothing is shown twice.
 */
export function useSessionStream(sessionId: MaybeRefOrGetter<string | null>, options: StreamOptions = {}) {
  const timeline = useTimelineStore()
  const connection = ref<ConnectionState>('idle')
  const notFound = ref(false)
  let socket: ReconnectingSocket | null = null

  function open(id: string): void {
    socket = new ReconnectingSocket({
      url: () => {
        // Authenticated by the session cookie (same origin): no token in the URL.
        const params = new URLSearchParams({ after: String(timeline.state.lastSeq) })
        return wsUrl(`${API_PREFIX}/ws/sessions/${encodeURIComponent(id)}?${params.toString()}`)
      },
      onMessage: (frame) => {
        if (timeline.sessionId !== id) return
        const event = parseEventFrame(frame)
        if (event) timeline.apply(event)
      },
      onStateChange: (state) => {
        connection.value = state
      },
      onClose: (code) =>
        decideOnClose(code, () => {
          notFound.value = true
        }),
      createSocket: options.createSocket,
      random: options.random,
    })
    socket.start()
  }

  function close(): void {
    socket?.stop()
    socket = null
  }

  const onOnline = () => socket?.reconnectNow()
  window.addEventListener('online', onOnline)

  watch(
    () => toValue(sessionId),
    (id) => {
      close()
      notFound.value = false
      if (timeline.sessionId !== id) timeline.reset(id)
      if (id) open(id)
    },
    { immediate: true },
  )

  onScopeDispose(() => {
    window.removeEventListener('online', onOnline)
    close()
  })

  return { connection: readonly(connection), notFound: readonly(notFound) }
}
