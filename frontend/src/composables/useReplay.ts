import { computed, onScopeDispose, reactive, ref, toValue, watch } from 'vue'
import type { MaybeRefOrGetter } from 'vue'

import { isLandmark, replayDelayMs } from '@/lib/replay'
import type { ReplaySpeed } from '@/lib/replay'
import { applyEvent, createTimelineState } from '@/lib/timeline'
import type { ToolCall } from '@/lib/timeline'
import { isVisibleTool } from '@/stores/timeline'
import type { SessionEvent } from '@/types/session-events'

/**
 * Plays a recorded list of events into a timeline: at the recorded pace (gaps capped, see
 * `replayDelayMs`) times `speed`, or one step at a time. `position` is how many events are
 * shown; it starts at the end (the whole timeline) until the reader replays or steps.
 */
export function useReplay(source: MaybeRefOrGetter<SessionEvent[]>) {
  const state = reactive(createTimelineState())
  const position = ref(0)
  const playing = ref(false)
  const speed = ref<ReplaySpeed>(1)
  let timer: ReturnType<typeof setTimeout> | null = null

  const events = computed(() => toValue(source))
  const total = computed(() => events.value.length)
  const atEnd = computed(() => position.value >= total.value)
  const startedAt = computed(() => events.value[0]?.timestamp ?? 0)
  /** Recorded seconds from the first event to the one shown last, and to the last one. */
  const elapsed = computed(() => (position.value ? (events.value[position.value - 1]?.timestamp ?? 0) - startedAt.value : 0))
  const duration = computed(() => (total.value ? (events.value[total.value - 1]?.timestamp ?? 0) - startedAt.value : 0))
  const tools = computed(() =>
    state.toolOrder.map((id) => state.tools[id]).filter((tool): tool is ToolCall => tool !== undefined && isVisibleTool(tool)),
  )

  function clear(): void {
    if (timer !== null) clearTimeout(timer)
    timer = null
  }

  /** Shows exactly the first `count` events. */
  function seek(count: number): void {
    const target = Math.min(Math.max(0, Math.floor(count)), total.value)
    Object.assign(state, createTimelineState())
    for (const event of events.value.slice(0, target)) applyEvent(state, event)
    position.value = target
  }

  function applyNext(): SessionEvent | null {
    const event = events.value[position.value]
    if (!event) return null
    applyEvent(state, event)
    position.value += 1
    return event
  }

  function schedule(): void {
    clear()
    if (atEnd.value) {
      playing.value = false
      return
    }
    const previous = events.value[position.value - 1]
    const next = events.value[position.value]
    const delay = previous && next ? replayDelayMs(previous, next, speed.value) : 0
    timer = setTimeout(() => {
      timer = null
      applyNext()
      schedule()
    }, delay)
  }

  /** Plays from here (from the start when the end is shown). */
  function play(): void {
    if (atEnd.value) seek(0)
    playing.value = true
    schedule()
  }

  function pause(): void {
    clear()
    playing.value = false
  }

  /** Forward to the next event a reader sees change (quiet ones on the way are applied too). */
  function next(): void {
    pause()
    let event = applyNext()
    while (event && !isLandmark(event)) event = applyNext()
  }

  /** Back to just after the landmark before the last one shown. */
  function previous(): void {
    pause()
    const shown = events.value.slice(0, position.value)
    let last = -1
    for (let i = shown.length - 1; i >= 0; i--) {
      if (isLandmark(shown[i]!)) {
        last = i
        break
      }
    }
    let before = -1
    for (let i = last - 1; i >= 0; i--) {
      if (isLandmark(shown[i]!)) {
        before = i
        break
      }
    }
    seek(before + 1)
  }

  function restart(): void {
    pause()
    seek(0)
  }

  function showAll(): void {
    pause()
    seek(total.value)
  }

  function setSpeed(value: ReplaySpeed): void {
    speed.value = value
    if (playing.value) schedule()
  }

  // New events (the page loaded them): show the whole timeline.
  watch(events, () => showAll(), { immediate: true })
  onScopeDispose(clear)

  return {
    state,
    tools,
    position,
    total,
    atEnd,
    playing,
    speed,
    elapsed,
    duration,
    play,
    pause,
    next,
    previous,
    restart,
    showAll,
    seek,
    setSpeed,
  }
}
