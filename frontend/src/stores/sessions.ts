import { acceptHMRUpdate, defineStore } from 'pinia'
import { computed, ref } from 'vue'

import * as sessionsApi from '@/api/sessions'
import type { SessionItem, SessionMode } from '@/types/api'

/** Newest activity first; sessions without a message yet go last, stable by id. */
export function compareSessions(a: SessionItem, b: SessionItem): number {
  const at = a.latest_message_at ?? -Infinity
  const bt = b.latest_message_at ?? -Infinity
  if (at !== bt) return bt - at
  return a.session_id < b.session_id ? 1 : a.session_id > b.session_id ? -1 : 0
}

export const useSessionsStore = defineStore('sessions', () => {
  /** Sessions by id, as last reported by the server (list socket or REST). */
  const byId = ref<Record<string, SessionItem>>({})
  /** True once a list socket snapshot arrived: REST results older than it are ignored. */
  const live = ref(false)
  const loaded = ref(false)

  const sorted = computed(() => Object.values(byId.value).sort(compareSessions))

  /**
   * The highest revision seen per session (Infinity once removed). Several server processes
   * report the same session; one that read the row earlier may report later, so an update
   * older than what is shown is dropped instead of undoing a newer one.
   */
  const revisions = new Map<string, number>()

  /** Replaces the whole list (a list socket snapshot). */
  function replaceAll(items: SessionItem[], itemRevisions: Record<string, number> = {}): void {
    const next: Record<string, SessionItem> = {}
    revisions.clear()
    for (const item of items) {
      next[item.session_id] = item
      const revision = itemRevisions[item.session_id]
      if (typeof revision === 'number') revisions.set(item.session_id, revision)
    }
    byId.value = next
    live.value = true
    loaded.value = true
  }

  /** Inserts or replaces one session, unless `revision` is older than the one shown. */
  function upsert(item: SessionItem, revision?: number): void {
    const known = revisions.get(item.session_id)
    if (revision !== undefined) {
      if (known !== undefined && revision < known) return
      revisions.set(item.session_id, revision)
    } else if (known === Infinity) {
      return // removed
    }
    byId.value[item.session_id] = item
  }

  function remove(sessionId: string): void {
    revisions.set(sessionId, Infinity) // a late update must not bring it back
    delete byId.value[sessionId]
  }

  function get(sessionId: string): SessionItem | undefined {
    return byId.value[sessionId]
  }

  /** Sessions whose title or latest message contains the query (case-insensitive). */
  function filtered(query: string): SessionItem[] {
    const needle = query.trim().toLowerCase()
    if (!needle) return sorted.value
    return sorted.value.filter(
      (item) =>
        item.title.toLowerCase().includes(needle) || item.latest_message.toLowerCase().includes(needle),
    )
  }

  /** Loads the list over REST; skipped once the list socket is the source. */
  async function load(): Promise<void> {
    const items = await sessionsApi.listSessions()
    if (live.value) return
    for (const item of items) byId.value[item.session_id] = item
    loaded.value = true
  }

  async function create(mode: SessionMode, first?: sessionsApi.ChatInput): Promise<string> {
    const { session_id } = await sessionsApi.createSession(mode, first)
    return session_id
  }

  async function rename(sessionId: string, title: string): Promise<void> {
    upsert(await sessionsApi.renameSession(sessionId, title))
  }

  async function destroy(sessionId: string): Promise<void> {
    await sessionsApi.deleteSession(sessionId)
    remove(sessionId)
  }

  /** Forgets everything (on logout). */
  function reset(): void {
    revisions.clear()
    byId.value = {}
    live.value = false
    loaded.value = false
  }

  return { byId, live, loaded, sorted, replaceAll, upsert, remove, get, filtered, load, create, rename, destroy, reset }
})

if (import.meta.hot) import.meta.hot.accept(acceptHMRUpdate(useSessionsStore, import.meta.hot))
