import { acceptHMRUpdate, defineStore } from 'pinia'
import { computed, reactive, ref } from 'vue'

import { applyEvent, createTimelineState } from '@/lib/timeline'
import type { ToolCall } from '@/lib/timeline'
import type { SessionEvent } from '@/types/session-events'

/** Toolkits whose calls are shown as messages, not as tool rows or computer views. */
const HIDDEN_TOOLKITS = new Set(['message'])

export function isVisibleTool(tool: ToolCall): boolean {
  return !HIDDEN_TOOLKITS.has(tool.name)
}

/** The open chat: the timeline of one session, built from its events. */
export const useTimelineStore = defineStore('timeline', () => {
  /** The session whose events are held. */
  const sessionId = ref<string | null>(null)
  /** Reducer state (items, tools, plan, title, server status, last seq). */
  const state = reactive(createTimelineState())

  /** Tool calls the computer panel can show, oldest first. */
  const visibleTools = computed(() =>
    state.toolOrder
      .map((id) => state.tools[id])
      .filter((tool): tool is ToolCall => tool !== undefined && isVisibleTool(tool)),
  )

  /** Files the agent attached to its messages, newest last. */
  const deliveredFiles = computed(() =>
    state.items.flatMap((item) =>
      item.kind === 'message' && item.role === 'assistant' ? item.attachments : [],
    ),
  )

  /** Starts over for another (or the same, reloaded) session. */
  function reset(id: string | null): void {
    sessionId.value = id
    Object.assign(state, createTimelineState())
  }

  /** Applies a server event; false when dropped as already applied. */
  function apply(event: SessionEvent): boolean {
    return applyEvent(state, event)
  }

  return { sessionId, state, visibleTools, deliveredFiles, reset, apply }
})

if (import.meta.hot) import.meta.hot.accept(acceptHMRUpdate(useTimelineStore, import.meta.hot))
