/**
 * Events as the server delivers them. The generated schema types mark fields with
 * defaults as optional; on the wire every event carries its envelope fields, so this
 * module narrows them once at the boundary (see `parseEventFrame`).
 */
import type {
  DoneEvent,
  ErrorEvent,
  MessageDeltaEvent,
  MessageEvent,
  PlanEvent,
  PlanStep,
  ReasoningEvent,
  RollbackEvent,
  StatusEvent,
  StepEvent,
  TitleEvent,
  ToolEvent,
  WaitEvent,
} from './events'
import type { ConsoleRecord } from './api'

interface EnvelopeFields {
  type?: unknown
  seq?: number
  event_id?: string
  timestamp?: number
  turn_id?: string | null
}

/** An event with its envelope fields present. */
type Delivered<T extends EnvelopeFields> = Omit<T, keyof EnvelopeFields> & {
  type: NonNullable<T['type']>
  seq: number
  event_id: string
  timestamp: number
  turn_id: string | null
}

export type SessionMessageEvent = Delivered<MessageEvent> & {
  attachments: NonNullable<MessageEvent['attachments']>
}
export type SessionMessageDeltaEvent = Delivered<MessageDeltaEvent>
export type SessionReasoningEvent = Delivered<ReasoningEvent>
export type SessionTitleEvent = Delivered<TitleEvent>
export type SessionPlanEvent = Delivered<PlanEvent>
export type SessionStepEvent = Delivered<StepEvent>
export type SessionToolEvent = Delivered<ToolEvent>
export type SessionErrorEvent = Delivered<ErrorEvent>
export type SessionDoneEvent = Delivered<DoneEvent>
export type SessionWaitEvent = Delivered<WaitEvent>
export type SessionStatusEvent = Delivered<StatusEvent>
export type SessionRollbackEvent = Delivered<RollbackEvent>

export type SessionEvent =
  | SessionMessageEvent
  | SessionMessageDeltaEvent
  | SessionReasoningEvent
  | SessionTitleEvent
  | SessionPlanEvent
  | SessionStepEvent
  | SessionToolEvent
  | SessionErrorEvent
  | SessionDoneEvent
  | SessionWaitEvent
  | SessionStatusEvent
  | SessionRollbackEvent

export type SessionEventType = SessionEvent['type']
export type { PlanStep }

const EVENT_TYPES: ReadonlySet<string> = new Set<SessionEventType>([
  'message',
  'message_delta',
  'reasoning',
  'title',
  'plan',
  'step',
  'tool',
  'error',
  'done',
  'wait',
  'status',
  'rollback',
])

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Turns one `{event, data}` frame into a typed event, or null for frames this client
 * does not understand (unknown types are skipped so a newer backend can add some).
 */
export function parseEventFrame(frame: unknown): SessionEvent | null {
  if (!isRecord(frame) || !isRecord(frame.data)) return null
  const data = frame.data
  const type = typeof data.type === 'string' ? data.type : frame.event
  if (typeof type !== 'string' || !EVENT_TYPES.has(type)) return null
  if (typeof data.seq !== 'number') return null
  const event = {
    ...data,
    type,
    event_id: typeof data.event_id === 'string' ? data.event_id : '',
    timestamp: typeof data.timestamp === 'number' ? data.timestamp : 0,
    turn_id: typeof data.turn_id === 'string' ? data.turn_id : null,
  }
  if (type === 'message' && !Array.isArray(data.attachments)) {
    return { ...event, attachments: [] } as unknown as SessionEvent
  }
  return event as unknown as SessionEvent
}

/* Tool `content` shapes (the schema types it as an open object). */

export interface SearchResult {
  title: string
  link: string
  snippet: string
}

export interface ShellContent {
  console: ConsoleRecord[]
}

export interface FileContent {
  file: string
  content: string
  old_content?: string | null
}

export interface BrowserContent {
  screenshot_file_id?: string | null
  url?: string | null
  title?: string | null
}

export interface SearchContent {
  query: string
  results: SearchResult[]
}
