/** Builders for session events as the server sends them (tests only). */
import type { SessionStatus } from '@/types/api'
import type {
  PlanStep,
  SessionDoneEvent,
  SessionErrorEvent,
  SessionMessageDeltaEvent,
  SessionMessageEvent,
  SessionPlanEvent,
  SessionReasoningEvent,
  SessionRollbackEvent,
  SessionStatusEvent,
  SessionStepEvent,
  SessionTitleEvent,
  SessionToolEvent,
  SessionWaitEvent,
} from '@/types/session-events'

const TURN = 'turn-1'

function envelope(seq: number, turnId: string | null = TURN) {
  return { seq, event_id: `e${seq}`, timestamp: 1_700_000_000 + seq, turn_id: turnId }
}

export function userMessage(seq: number, content: string, turnId: string | null = TURN): SessionMessageEvent {
  return { ...envelope(seq, turnId), type: 'message', role: 'user', content, attachments: [] }
}

export function assistantMessage(seq: number, content: string, turnId: string | null = TURN): SessionMessageEvent {
  return { ...envelope(seq, turnId), type: 'message', role: 'assistant', content, attachments: [] }
}

export function delta(seq: number, text: string, turnId: string | null = TURN): SessionMessageDeltaEvent {
  return { ...envelope(seq, turnId), type: 'message_delta', role: 'assistant', delta: text }
}

export function plan(seq: number, steps: PlanStep[]): SessionPlanEvent {
  return { ...envelope(seq), type: 'plan', steps }
}

export function step(
  seq: number,
  id: string,
  status: SessionStepEvent['status'],
  description = `Step ${id}`,
  result: string | null = null,
): SessionStepEvent {
  return { ...envelope(seq), type: 'step', id, status, description, result }
}

export function tool(
  seq: number,
  toolCallId: string,
  status: SessionToolEvent['status'],
  fields: { name: string; function: string; args?: Record<string, unknown>; content?: Record<string, unknown> | null },
): SessionToolEvent {
  return {
    ...envelope(seq),
    type: 'tool',
    tool_call_id: toolCallId,
    status,
    name: fields.name,
    function: fields.function,
    args: fields.args ?? {},
    content: fields.content ?? null,
  }
}

export function reasoning(seq: number, content: string, turnId: string | null = TURN): SessionReasoningEvent {
  return { ...envelope(seq, turnId), type: 'reasoning', content }
}

export function title(seq: number, value: string): SessionTitleEvent {
  return { ...envelope(seq), type: 'title', title: value }
}

export function status(seq: number, value: SessionStatus, note?: string): SessionStatusEvent {
  return { ...envelope(seq), type: 'status', status: value, ...(note ? { note } : {}) }
}

export function wait(seq: number): SessionWaitEvent {
  return { ...envelope(seq), type: 'wait' }
}

export function done(seq: number): SessionDoneEvent {
  return { ...envelope(seq), type: 'done' }
}

export function error(seq: number, message: string): SessionErrorEvent {
  return { ...envelope(seq), type: 'error', error: message }
}

/** A WebSocket frame as the server sends it. */
export function frame(event: { type: string }): string {
  return JSON.stringify({ event: event.type, data: event })
}

export function rollback(seq: number, turnIds: string[], fromSeq: number, toSeq: number): SessionRollbackEvent {
  return { ...envelope(seq, turnIds[0] ?? null), type: 'rollback', turn_ids: turnIds, from_seq: fromSeq, to_seq: toSeq }
}
