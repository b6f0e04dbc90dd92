import { acceptHMRUpdate, defineStore } from 'pinia'
import { computed, ref } from 'vue'

import * as authApi from '@/api/auth'
import { clearSignIn, isSignedIn, markSignedIn } from '@/api/tokens'
import type { User } from '@/types/api'

export const useAuthStore = defineStore('auth', () => {
  /** The signed-in user, once `/auth/me` (or login) has answered. */
  const user = ref<User | null>(null)
  /** Whether the app believes it is signed in (the session cookie is HttpOnly, so the
   *  server has the last word: a 401 signs out). */
  const signedIn = ref(isSignedIn())
  const isAuthenticated = computed(() => signedIn.value)

  /** Signs in: the server sets the session cookie; the token pair in the answer is not kept.
   *  Throws ApiError / NetworkError with a readable message. */
  async function login(username: string, password: string): Promise<void> {
    const result = await authApi.login(username, password)
    markSignedIn()
    user.value = result.user
    signedIn.value = true
  }

  /** Loads the current user (refreshing the token on 401 through the client). */
  async function loadUser(): Promise<User> {
    const me = await authApi.fetchMe()
    user.value = me
    return me
  }

  /** Forgets the local session (the sign-in hint and the user) without calling the server. */
  function forget(): void {
    clearSignIn()
    user.value = null
    signedIn.value = false
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
