import { reportAuthLost } from '@/api/client'
import type { CloseDecision } from '@/lib/reconnecting-socket'

/** Close codes the backend uses on its WebSockets. */
export const CLOSE_UNAUTHORIZED = 4001
export const CLOSE_NOT_FOUND = 4004

/**
 * Shared close policy: on 4001 (the cookie session ended) sign out; on 4004 stop (the
 * caller shows "not found"); anything else backs off and retries.
 */
export function decideOnClose(code: number, onNotFound?: () => void): CloseDecision | Promise<CloseDecision> {
  if (code === CLOSE_NOT_FOUND) {
    onNotFound?.()
    return 'stop'
  }
  if (code === CLOSE_UNAUTHORIZED) {
    reportAuthLost()
    return 'stop'
  }
  return 'retry'
}
