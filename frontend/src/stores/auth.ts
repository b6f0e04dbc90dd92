import { acceptHMRUpdate, defineStore } from 'pinia'
import { computed, ref } from 'vue'

import * as authApi from '@/api/auth'
import { clearTokens, getAccessToken, storeTokens } from '@/api/tokens'
import type { User } from '@/types/api'

export const useAuthStore = defineStore('auth', () => {
  /** The signed-in user, once `/auth/me` (or login) has answered. */
  const user = ref<User | null>(null)
  /** Whether an access token is held; the server still has the last word on it. */
  const hasToken = ref(getAccessToken() !== null)
  const isAuthenticated = computed(() => hasToken.value)

  /** Signs in and keeps the token pair. Throws ApiError / NetworkError with a readable message. */
  async function login(username: string, password: string): Promise<void> {
    const result = await authApi.login(username, password)
    storeTokens(result)
    user.value = result.user
    hasToken.value = true
  }

  /** Loads the current user (refreshing the token on 401 through the client). */
  async function loadUser(): Promise<User> {
    const me = await authApi.fetchMe()
    user.value = me
    return me
  }

  /** Forgets the local session (tokens and user) without calling the server. */
  function forget(): void {
    clearTokens()
    user.value = null
    hasToken.value = false
  }

  /** Tells the server (best effort) and forgets the local session. */
  async function logout(): Promise<void> {
    try {
      await authApi.logout()
    } catch {
      // Logging out locally is what matters; the server may already consider us out.
    }
    forget()
  }

  return { user, isAuthenticated, login, loadUser, logout, forget }
})

if (import.meta.hot) import.meta.hot.accept(acceptHMRUpdate(useAuthStore, import.meta.hot))
