/**
 * Share links: the owner's calls (create, list, revoke, mark a file private) and the public,
 * read-only ones a shared page makes without signing in.
 */
import type { FileInfo, SessionMode, SessionStatus } from '@/types/api'
import { parseEventFrame } from '@/types/session-events'
import type { SessionEvent } from '@/types/session-events'
import { ApiError, apiRequest, authorizedFetch, readEnvelope } from './client'

const enc = encodeURIComponent

export interface ShareLink {
  share_id: string
  /** The token's first characters, to tell links apart (the token is shown once). */
  token_hint: string
  created_at: number
  expires_at: number | null
  revoked_at: number | null
  active: boolean
}

export interface CreatedShareLink extends ShareLink {
  token: string
  /** The web app's page of the link: `/share/<token>`. */
  path: string
  url: string
}

/** A session's file with its share visibility. */
export interface SessionFile extends FileInfo {
  private: boolean
}

export interface SharedSession {
  session: { title: string; mode: SessionMode; status: SessionStatus; created_at: number }
  expires_at: number | null
  /** The stored events in seq order, with their recorded timestamps. */
  events: SessionEvent[]
}

export function createShare(sessionId: string, expiresInSeconds: number | null): Promise<CreatedShareLink> {
  const body = expiresInSeconds === null ? {} : { expires_in_seconds: expiresInSeconds }
  return apiRequest<CreatedShareLink>(`/sessions/${enc(sessionId)}/shares`, { method: 'POST', body })
}

export async function listShares(sessionId: string): Promise<ShareLink[]> {
  const data = await apiRequest<{ shares: ShareLink[] }>(`/sessions/${enc(sessionId)}/shares`)
  return data.shares
}

export function revokeShare(sessionId: string, shareId: string): Promise<ShareLink> {
  return apiRequest<ShareLink>(`/sessions/${enc(sessionId)}/shares/${enc(shareId)}`, { method: 'DELETE' })
}

export async function listFilesForSharing(sessionId: string): Promise<SessionFile[]> {
  const data = await apiRequest<{ files: SessionFile[] }>(`/sessions/${enc(sessionId)}/files`)
  return data.files
}

export function setFilePrivate(fileId: string, isPrivate: boolean): Promise<SessionFile> {
  return apiRequest<SessionFile>(`/files/${enc(fileId)}`, { method: 'PATCH', body: { private: isPrivate } })
}

/** A shared session, read without credentials: a 401 here must not sign anyone out. */
export async function getShared(token: string): Promise<SharedSession> {
  const data = await readEnvelope<Omit<SharedSession, 'events'> & { events: unknown[] }>(
    await authorizedFetch(`/shared/${enc(token)}`, { auth: false }),
  )
  const events = data.events.map(parseEventFrame).filter((event): event is SessionEvent => event !== null)
  return { ...data, events }
}

/** A file the shared timeline shows (screenshots, attachments that are not private). */
export async function fetchSharedFileBlob(token: string, fileId: string): Promise<Blob> {
  const response = await authorizedFetch(`/shared/${enc(token)}/files/${enc(fileId)}`, {
    auth: false,
    headers: { Accept: '*/*' },
  })
  if (!response.ok) {
    throw new ApiError(response.status, response.status, `Download failed (HTTP ${response.status})`)
  }
  return response.blob()
}
