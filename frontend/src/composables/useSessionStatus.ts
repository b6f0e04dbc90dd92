import { computed, toValue } from 'vue'
import type { MaybeRefOrGetter, Ref } from 'vue'

import { useSessionsStore } from '@/stores/sessions'
import { useTimelineStore } from '@/stores/timeline'
import type { SessionDetail } from '@/types/api'

export const STATUS_LABELS: Record<string, string> = {
  pending: 'Pending',
  running: 'Running',
  waiting: 'Waiting for you',
  completed: 'Completed',
  stopped: 'Stopped',
  failed: 'Failed',
}

/**
 * What the page says about the session, from the freshest source that knows it: the session's
 * own events (WebSocket), then the list socket's item, then the REST detail.
 */
export function useSessionStatus(sessionId: MaybeRefOrGetter<string>, detail: Readonly<Ref<SessionDetail | null>>) {
  const timeline = useTimelineStore()
  const sessions = useSessionsStore()
  const listItem = computed(() => sessions.get(toValue(sessionId)))

  const status = computed(() => timeline.state.status ?? listItem.value?.status ?? detail.value?.status ?? null)
  const statusLabel = computed(() => (status.value ? (STATUS_LABELS[status.value] ?? status.value) : ''))
  const running = computed(() => status.value === 'running')
  const mode = computed(() => listItem.value?.mode ?? detail.value?.mode ?? null)
  const lite = computed(() => mode.value === 'lite')
  const title = computed(() => timeline.state.title ?? (listItem.value?.title || detail.value?.title || ''))

  return { status, statusLabel, running, mode, lite, title }
}
