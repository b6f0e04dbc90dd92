import { acceptHMRUpdate, defineStore } from 'pinia'
import { ref } from 'vue'

import { type ClientConfig, getClientConfig } from '@/api/config'

/** The server's limits, as the server states them; these defaults hold until it has answered. */
const DEFAULTS: ClientConfig = { max_message_chars: 100_000, max_upload_bytes: 50 * 1024 * 1024, model_problem: null }

export const useConfigStore = defineStore('config', () => {
  const config = ref<ClientConfig>({ ...DEFAULTS })
  let loading: Promise<void> | null = null

  /** Loads once per login; a failure keeps the defaults (the server checks again anyway). */
  function load(): Promise<void> {
    loading ??= getClientConfig()
      .then((value) => {
        config.value = value
      })
      .catch(() => {
        loading = null
      })
    return loading
  }

  function reset(): void {
    config.value = { ...DEFAULTS }
    loading = null
  }

  return { config, load, reset }
})

if (import.meta.hot) import.meta.hot.accept(acceptHMRUpdate(useConfigStore, import.meta.hot))
