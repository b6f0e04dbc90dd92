import { readonly, ref, toValue, watch } from 'vue'
import type { MaybeRefOrGetter } from 'vue'

import { getSession } from '@/api/sessions'
import type { SessionDetail } from '@/types/api'

/**
 * The session's title, status and mode over REST, the fallback for a session the list socket
 * has not reported (yet). Loaded once per session id; a failed read leaves `null` (the session
 * WebSocket is the one that says "not found"). An answer for a session no longer shown is dropped.
 */
export function useSessionDetail(sessionId: MaybeRefOrGetter<string>) {
  const detail = ref<SessionDetail | null>(null)

  async function load(id: string): Promise<void> {
    let loaded: SessionDetail | null
    try {
      loaded = await getSession(id)
    } catch {
      loaded = null
    }
    if (toValue(sessionId) === id) detail.value = loaded
  }

  watch(
    () => toValue(sessionId),
    (id) => {
      detail.value = null
      void load(id)
    },
    { immediate: true },
  )

  return { detail: readonly(detail) }
}
