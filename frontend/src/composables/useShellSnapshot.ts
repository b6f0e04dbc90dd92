import { onScopeDispose, ref, toValue, watch } from 'vue'
import type { MaybeRefOrGetter } from 'vue'

import { readShell } from '@/api/sessions'
import type { ConsoleRecord } from '@/types/api'

const POLL_MS = 1_000

/**
 * While a shell command runs, polls the sandbox shell for its console so the panel shows
 * output live; stops as soon as `active` turns false (the `called` event has the rest).
 */
export function useShellSnapshot(
  sessionId: MaybeRefOrGetter<string>,
  shellId: MaybeRefOrGetter<string>,
  active: MaybeRefOrGetter<boolean>,
) {
  const console = ref<ConsoleRecord[] | null>(null)
  let timer: ReturnType<typeof setTimeout> | null = null
  let generation = 0

  function stop(): void {
    generation++
    if (timer !== null) clearTimeout(timer)
    timer = null
  }

  async function poll(mine: number): Promise<void> {
    const shell = toValue(shellId)
    if (!shell) return
    try {
      const snapshot = await readShell(toValue(sessionId), shell)
      if (mine === generation) console.value = snapshot.console
    } catch {
      // Live output is best effort; the final event carries the full console.
    }
    if (mine === generation) timer = setTimeout(() => void poll(mine), POLL_MS)
  }

  watch(
    () => [toValue(active), toValue(shellId), toValue(sessionId)] as const,
    ([isActive]) => {
      stop()
      console.value = null
      if (isActive) void poll(generation)
    },
    { immediate: true },
  )
  onScopeDispose(stop)

  return { console }
}
