/** Shapes of the REST API (`/api/v1`), mirroring the backend's serializers. */
import type { FileInfo } from './events'

export type { FileInfo }

/** Every REST response is wrapped in this envelope; `code` 0 means success. */
export interface Envelope<T> {
  code: number
  msg: string
  data: T
}

export interface User {
  id: number
  username: string
  email: string
  is_staff: boolean
}

export interface TokenPair {
  access_token: string
  refresh_token: string
  token_type: 'bearer'
}

export interface LoginResult extends TokenPair {
  user: User
}

export type SessionStatus = 'pending' | 'running' | 'waiting' | 'completed' | 'stopped' | 'failed'
export type SessionMode = 'agent' | 'lite'

/** One row of the session list (REST list, list WebSocket snapshot and upserts). */
export interface SessionItem {
  session_id: string
  title: string
  latest_message: string
  /** Unix seconds, or null when the session has no message yet. */
  latest_message_at: number | null
  status: SessionStatus
  unread_message_count: number
  mode: SessionMode
  /** `job`: the session of a job one of the user's API keys submitted. */
  origin?: 'chat' | 'job'
}

export interface SessionDetail {
  session_id: string
  title: string
  status: SessionStatus
  mode: SessionMode
}

export type HealthReport = Record<'database' | 'redis' | 'mongo' | 'worker', string> & {
  /** Only under `make run`: each child process's state ("running…" or "restarting…"). */
  processes?: Record<string, string>
}

export interface ConsoleRecord {
  ps1: string
  command: string
  output: string
}

export interface ShellSnapshot {
  output: string
  session_id: string
  console: ConsoleRecord[]
}

export interface FileSnapshot {
  content: string
  file: string
}

export interface VncTicket {
  ticket: string
  expires_in: number
  url: string
}

/** Frames of `WS /ws/sessions`. */
/** `revision` orders a session's list updates: a lower one than already seen is stale. */
export type SessionListFrame =
  | { op: 'snapshot'; sessions: SessionItem[]; revisions: Record<string, number> }
  | { op: 'upsert'; session: SessionItem; revision?: number }
  | { op: 'remove'; session_id: string }
