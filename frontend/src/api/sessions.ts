import type {
  FileInfo,
  FileSnapshot,
  SessionDetail,
  SessionItem,
  SessionMode,
  ShellSnapshot,
  VncTicket,
} from '@/types/api'
import { apiRequest } from './client'

const enc = encodeURIComponent

/**
 * Creates a session; with `first`, its first message too, in the same request, so a message
 * the server refuses leaves no empty session behind.
 */
export function createSession(mode: SessionMode, first?: ChatInput): Promise<{ session_id: string }> {
  const body: Record<string, unknown> = { mode }
  if (first) {
    body.message = first.message
    if (first.attachments.length) body.attachments = first.attachments
  }
  return apiRequest('/sessions', { method: 'PUT', body })
}

/** Runs the last message again (after an error or a stop, or for another answer). */
export function retrySession(sessionId: string): Promise<{ turn_id: string }> {
  return apiRequest(`/sessions/${enc(sessionId)}/retry`, { method: 'POST' })
}

export async function listSessions(): Promise<SessionItem[]> {
  const data = await apiRequest<{ sessions: SessionItem[] }>('/sessions')
  return data.sessions
}

/**
 * Title, status and mode; reading writes nothing. The events come from the session WebSocket,
 * which marks the session read.
 */
export function getSession(sessionId: string): Promise<SessionDetail> {
  return apiRequest<SessionDetail>(`/sessions/${enc(sessionId)}`)
}

export function renameSession(sessionId: string, title: string): Promise<SessionItem> {
  return apiRequest<SessionItem>(`/sessions/${enc(sessionId)}`, { method: 'PATCH', body: { title } })
}

export function deleteSession(sessionId: string): Promise<null> {
  return apiRequest<null>(`/sessions/${enc(sessionId)}`, { method: 'DELETE' })
}

export function stopSession(sessionId: string): Promise<null> {
  return apiRequest<null>(`/sessions/${enc(sessionId)}/stop`, { method: 'POST' })
}

export interface ChatInput {
  message: string
  attachments: string[]
}

/** The turn a message started: `queued` while it waits behind another. */
export interface TurnAccepted {
  turn_id: string | null
  status: string | null
}

/**
 * Starts a turn. The app renders events from the session WebSocket only, so it asks for the
 * JSON answer (`Accept: application/json`) instead of the SSE stream other clients read.
 */
export function sendChat(sessionId: string, input: ChatInput): Promise<TurnAccepted> {
  const body: Record<string, unknown> = {
    message: input.message,
    timestamp: Math.floor(Date.now() / 1000),
  }
  if (input.attachments.length) body.attachments = input.attachments
  return apiRequest<TurnAccepted>(`/sessions/${enc(sessionId)}/chat`, {
    method: 'POST',
    body,
    headers: { Accept: 'application/json' },
  })
}

export async function listSessionFiles(sessionId: string): Promise<FileInfo[]> {
  const data = await apiRequest<{ files: FileInfo[] }>(`/sessions/${enc(sessionId)}/files`)
  return data.files
}

export function readShell(sessionId: string, shellId: string): Promise<ShellSnapshot> {
  return apiRequest<ShellSnapshot>(`/sessions/${enc(sessionId)}/shell`, {
    method: 'POST',
    body: { session_id: shellId },
  })
}

export function readFile(sessionId: string, path: string): Promise<FileSnapshot> {
  return apiRequest<FileSnapshot>(`/sessions/${enc(sessionId)}/file`, {
    method: 'POST',
    body: { file: path },
  })
}

/** A single-use ticket for the VNC WebSocket proxy; get a fresh one per connection. */
export function createVncTicket(sessionId: string, viewOnly: boolean): Promise<VncTicket> {
  return apiRequest<VncTicket>(`/sessions/${enc(sessionId)}/vnc/ticket`, {
    method: 'POST',
    body: { view_only: viewOnly },
  })
}
