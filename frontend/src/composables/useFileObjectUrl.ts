import { onScopeDispose, ref, toValue, watch } from 'vue'
import type { MaybeRefOrGetter } from 'vue'

import { errorMessage } from '@/api/client'
import { useViewerContext } from '@/composables/viewerContext'

/** An object URL for a stored file (fetched as the viewer may: the owner's login, or a share
 * link), revoked when replaced. Call it in a component's setup. */
export function useFileObjectUrl(fileId: MaybeRefOrGetter<string | null>) {
  const viewer = useViewerContext()
  const url = ref<string | null>(null)
  const error = ref<string | null>(null)
  const loading = ref(false)
  let generation = 0

  function release(): void {
    if (url.value) URL.revokeObjectURL(url.value)
    url.value = null
  }

  watch(
    () => toValue(fileId),
    async (id) => {
      const mine = ++generation
      release()
      error.value = null
      if (!id) return
      loading.value = true
      try {
        const blob = await viewer.fetchFile(id)
        if (mine === generation) url.value = URL.createObjectURL(blob)
      } catch (err) {
        if (mine === generation) error.value = errorMessage(err)
      } finally {
        if (mine === generation) loading.value = false
      }
    },
    { immediate: true },
  )

  onScopeDispose(() => {
    generation++
    release()
  })

  return { url, error, loading }
}
