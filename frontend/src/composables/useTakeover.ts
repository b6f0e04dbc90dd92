import { ref, toValue, watch } from 'vue'
import type { MaybeRefOrGetter } from 'vue'

import type { ComposerPayload } from '@/types/ui'

/** The message that tells the agent the user had the browser, and what they did there. */
export function handBackMessage(note: string): string {
  return note
    ? `I took over the browser and did: ${note}; continue.`
    : 'I took over the browser and handed it back; continue.'
}

/**
 * The browser take-over: the user takes control, then hands back with a note the agent reads
 * as the next message. The overlay stays open if that message is refused, so the note is not lost.
 */
export function useTakeover(
  sessionId: MaybeRefOrGetter<string>,
  send: (payload: ComposerPayload) => Promise<boolean>,
) {
  const active = ref(false)
  const handingBack = ref(false)

  watch(
    () => toValue(sessionId),
    () => {
      active.value = false
    },
  )

  function start(): void {
    active.value = true
  }

  function exit(): void {
    active.value = false
  }

  async function handBack(note: string): Promise<void> {
    handingBack.value = true
    const ok = await send({ message: handBackMessage(note), attachments: [] })
    handingBack.value = false
    if (ok) active.value = false
  }

  return { active, handingBack, start, exit, handBack }
}
