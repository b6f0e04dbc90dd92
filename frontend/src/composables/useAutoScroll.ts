import { nextTick, onMounted, onBeforeUnmount, ref, watch } from 'vue'
import type { Ref, WatchSource } from 'vue'

/** How close to the bottom (px) still counts as "following". */
const THRESHOLD = 80

/**
 * Keeps a scroll container pinned to the bottom while content grows, until the user
 * scrolls up; `jumpToLatest` re-pins it.
 */
export function useAutoScroll(container: Ref<HTMLElement | null>, trigger: WatchSource<unknown>) {
  const following = ref(true)

  function atBottom(el: HTMLElement): boolean {
    return el.scrollHeight - el.scrollTop - el.clientHeight <= THRESHOLD
  }

  function scrollToBottom(smooth = false): void {
    const el = container.value
    if (!el) return
    if (typeof el.scrollTo === 'function') el.scrollTo({ top: el.scrollHeight, behavior: smooth ? 'smooth' : 'auto' })
    else el.scrollTop = el.scrollHeight
  }

  function onScroll(): void {
    const el = container.value
    if (el) following.value = atBottom(el)
  }

  function jumpToLatest(): void {
    following.value = true
    scrollToBottom(true)
  }

  watch(
    trigger,
    async () => {
      if (!following.value) return
      await nextTick()
      scrollToBottom()
    },
    { flush: 'post' },
  )

  onMounted(() => {
    container.value?.addEventListener('scroll', onScroll, { passive: true })
    scrollToBottom()
  })
  onBeforeUnmount(() => container.value?.removeEventListener('scroll', onScroll))

  return { following, jumpToLatest }
}
