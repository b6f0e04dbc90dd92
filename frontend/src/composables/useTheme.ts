import { computed, ref, watchEffect } from 'vue'

export type ThemeChoice = 'system' | 'light' | 'dark'

const STORAGE_KEY = 'anker.theme'

function readChoice(): ThemeChoice {
  const stored = localStorage.getItem(STORAGE_KEY)
  return stored === 'light' || stored === 'dark' ? stored : 'system'
}

const choice = ref<ThemeChoice>(readChoice())
const systemDark = ref(false)
let started = false

/**
 * Light/dark theme: follows prefers-color-scheme until the user picks one, and sets
 * `data-theme` on <html> (the CSS variables key off it).
 */
export function useTheme() {
  if (!started) {
    started = true
    const media = window.matchMedia?.('(prefers-color-scheme: dark)')
    systemDark.value = media?.matches ?? false
    media?.addEventListener('change', (event) => {
      systemDark.value = event.matches
    })
    watchEffect(() => {
      const resolved = choice.value === 'system' ? (systemDark.value ? 'dark' : 'light') : choice.value
      document.documentElement.dataset.theme = resolved
    })
  }

  const resolved = computed<'light' | 'dark'>(() =>
    choice.value === 'system' ? (systemDark.value ? 'dark' : 'light') : choice.value,
  )

  function setChoice(next: ThemeChoice): void {
    choice.value = next
    if (next === 'system') localStorage.removeItem(STORAGE_KEY)
    else localStorage.setItem(STORAGE_KEY, next)
  }

  /** Flips between light and dark (leaving "system"). */
  function toggle(): void {
    setChoice(resolved.value === 'dark' ? 'light' : 'dark')
  }

  return { choice, resolved, setChoice, toggle }
}
