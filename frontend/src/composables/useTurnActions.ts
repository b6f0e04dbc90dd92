import { ref, toValue, watch } from 'vue'
import type { MaybeRefOrGetter } from 'vue'

import { errorMessage } from '@/api/client'
import { retrySession, sendChat, stopSession } from '@/api/sessions'
import type { ComposerPayload } from '@/types/ui'

/**
 * Send, retry and stop for one session. The calls only start or end work: what happens next
 * arrives over the session WebSocket. A refused call leaves its sentence in `actionError`.
 */
export function useTurnActions(sessionId: MaybeRefOrGetter<string>, onStarted: () => void = () => {}) {
  const actionError = ref<string | null>(null)
  const stopping = ref(false)
  const retrying = ref(false)

  watch(
    () => toValue(sessionId),
    () => {
      actionError.value = null
    },
  )

  /** True once the server accepted the message (the composer clears itself then). */
  async function send(payload: ComposerPayload): Promise<boolean> {
    actionError.value = null
    try {
      await sendChat(toValue(sessionId), {
        message: payload.message,
        attachments: payload.attachments.map((file) => file.file_id),
      })
      onStarted()
      return true
    } catch (err) {
      actionError.value = errorMessage(err)
      return false
    }
  }

  async function retry(): Promise<void> {
    retrying.value = true
    actionError.value = null
    try {
      await retrySession(toValue(sessionId))
      onStarted()
    } catch (err) {
      actionError.value = errorMessage(err)
    } finally {
      retrying.value = false
    }
  }

  async function stop(): Promise<void> {
    stopping.value = true
    actionError.value = null
    try {
      await stopSession(toValue(sessionId))
    } catch (err) {
      actionError.value = errorMessage(err)
    } finally {
      stopping.value = false
    }
  }

  return { actionError, stopping, retrying, send, retry, stop }
}
