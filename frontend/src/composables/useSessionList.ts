import { onScopeDispose, readonly, ref } from 'vue'

import { API_PREFIX, wsUrl } from '@/api/client'
import { ReconnectingSocket } from '@/lib/reconnecting-socket'
import type { ConnectionState, SocketFactory } from '@/lib/reconnecting-socket'
import { useSessionsStore } from '@/stores/sessions'
import type { SessionItem, SessionListFrame } from '@/types/api'
import { decideOnClose } from './socket-auth'

function isSessionItem(value: unknown): value is SessionItem {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as SessionItem).session_id === 'string'
  )
}

function parseListFrame(frame: unknown): SessionListFrame | null {
  if (typeof frame !== 'object' || frame === null) return null
  const f = frame as Record<string, unknown>
  if (f.op === 'snapshot' && Array.isArray(f.sessions)) {
    const revisions = typeof f.revisions === 'object' && f.revisions !== null ? f.revisions : {}
    return { op: 'snapshot', sessions: f.sessions.filter(isSessionItem), revisions: revisions as Record<string, number> }
  }
  if (f.op === 'upsert' && isSessionItem(f.session)) {
    return { op: 'upsert', session: f.session, revision: typeof f.revision === 'number' ? f.revision : undefined }
  }
  if (f.op === 'remove' && typeof f.session_id === 'string') return { op: 'remove', session_id: f.session_id }
  return null
}

export interface SessionListOptions {
  createSocket?: SocketFactory
  random?: () => number
}

/**
 * Owns the session-list WebSocket: a snapshot on every (re)connect, then upserts and
 * removals, all fed into the sessions store. Also loads the list over REST once so the
 * sidebar fills even before the socket is up.
 */
export function useSessionList(options: SessionListOptions = {}) {
  const sessions = useSessionsStore()
  const connection = ref<ConnectionState>('idle')

  const socket = new ReconnectingSocket({
    url: () => wsUrl(`${API_PREFIX}/ws/sessions`), // authenticated by the session cookie
    onMessage: (raw) => {
      const frame = parseListFrame(raw)
      if (!frame) return
      switch (frame.op) {
        case 'snapshot':
          sessions.replaceAll(frame.sessions, frame.revisions)
          break
        case 'upsert':
          sessions.upsert(frame.session, frame.revision)
          break
        case 'remove':
          sessions.remove(frame.session_id)
          break
      }
    },
    onStateChange: (state) => {
      connection.value = state
    },
    onClose: (code) => decideOnClose(code),
    createSocket: options.createSocket,
    random: options.random,
  })
  socket.start()
  sessions.load().catch(() => {
    // The socket's snapshot fills the list once it connects.
  })

  const onOnline = () => socket.reconnectNow()
  window.addEventListener('online', onOnline)
  onScopeDispose(() => {
    window.removeEventListener('online', onOnline)
    socket.stop()
  })

  return { connection: readonly(connection) }
}
