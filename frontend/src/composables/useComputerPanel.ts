import { ref, toValue, watch } from 'vue'
import type { MaybeRefOrGetter } from 'vue'

import type { ToolCall } from '@/lib/timeline'

/**
 * The computer panel beside the chat: open or closed, and which tool call it shows (`null`
 * follows the latest). On wide screens it opens by itself when the agent starts a new tool call,
 * unless the user closed it in this session.
 */
export function useComputerPanel(
  sessionId: MaybeRefOrGetter<string>,
  tools: () => ToolCall[],
  wide: () => boolean = () => window.matchMedia?.('(min-width: 1100px)').matches ?? false,
) {
  const open = ref(false)
  const dismissed = ref(false)
  const selectedToolId = ref<string | null>(null)

  watch(
    () => toValue(sessionId),
    () => {
      open.value = false
      dismissed.value = false
      selectedToolId.value = null
    },
  )

  watch(
    () => tools().length,
    (count, before) => {
      if (count > (before ?? 0) && !dismissed.value && wide()) open.value = true
    },
  )

  /** Shows one tool call; the latest one is shown as "follow the latest". */
  function openTool(id: string): void {
    const list = tools()
    selectedToolId.value = list[list.length - 1]?.id === id ? null : id
    open.value = true
  }

  function select(id: string | null): void {
    selectedToolId.value = id
  }

  function close(): void {
    open.value = false
    dismissed.value = true
  }

  function toggle(): void {
    if (open.value) close()
    else open.value = true
  }

  return { open, selectedToolId, openTool, select, close, toggle }
}
