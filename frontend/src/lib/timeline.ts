/**
 * The chat timeline as a pure reducer over session events. `applyEvent` mutates the
 * state in place (the store hands it a reactive object) and drops any event whose
 * `seq` is not newer than the last one applied, so replays and reconnects are idempotent.
 */
import type { FileInfo, SessionStatus } from '@/types/api'
import type { ApprovalRequest } from '@/types/events'
import type { PlanStep, SessionEvent, SessionToolEvent } from '@/types/session-events'

export type StepStatus = NonNullable<PlanStep['status']>
export type ToolStatus = SessionToolEvent['status']

export interface ToolCall {
  id: string
  /** Toolkit: shell, file, browser, search, message. */
  name: string
  function: string
  args: Record<string, unknown>
  status: ToolStatus
  content: Record<string, unknown> | null
  /** Key of the step the call belongs to, or null when it ran outside a plan step. */
  stepKey: string | null
  turnId: string | null
  timestamp: number
  /** The call was cut off by a stop: it ended without its own result. */
  stopped: boolean
}

export interface MessageItem {
  kind: 'message'
  key: string
  role: 'user' | 'assistant'
  content: string
  attachments: FileInfo[]
  /** True while `message_delta`s are still arriving for it. */
  streaming: boolean
  /** The answer of a stopped turn, as far as it got. */
  cutShort: boolean
  turnId: string | null
  timestamp: number
}

export interface StepItem {
  kind: 'step'
  /** Unique per row: a step's tool calls that follow a message (an answer to the agent's
   * question) go to a new row of the same step after that message, so rows keep the log's order. */
  key: string
  /** The step itself (turn and step id): every row of the step shares it. */
  stepKey: string
  id: string
  description: string
  status: StepStatus
  result: string | null
  toolIds: string[]
  turnId: string | null
  timestamp: number
}

export interface ToolItem {
  kind: 'tool'
  key: string
  toolId: string
}

/** What a thinking model reasoned before an answer or a round of tool calls (shown collapsed). */
export interface ReasoningItem {
  kind: 'reasoning'
  key: string
  content: string
  turnId: string | null
  timestamp: number
}

export interface ErrorItem {
  kind: 'error'
  key: string
  error: string
  timestamp: number
}

export type TimelineItem = MessageItem | StepItem | ToolItem | ReasoningItem | ErrorItem

export interface TimelineState {
  /** Highest `seq` applied; the stream resumes after it. */
  lastSeq: number
  items: TimelineItem[]
  tools: Record<string, ToolCall>
  /** Tool call ids in the order they started (the computer panel's history). */
  toolOrder: string[]
  plan: PlanStep[] | null
  /** The turn that sent the plan shown (a rollback of that turn takes the plan away). */
  planTurnId: string | null
  title: string | null
  /** The server's session status, as last reported. */
  status: SessionStatus | null
  /** A status event's note on a long wait (the sandbox image being built), until the next event. */
  statusNote: string | null
  activeStepKey: string | null
  /** The tool call the turn waits for approval of (the last `wait` event's), while waiting. */
  approval: ApprovalRequest | null
  /** Bumped on every applied event (drives auto-scroll). */
  version: number
}

export function createTimelineState(): TimelineState {
  return {
    lastSeq: 0,
    items: [],
    tools: {},
    toolOrder: [],
    plan: null,
    planTurnId: null,
    title: null,
    status: null,
    statusNote: null,
    activeStepKey: null,
    approval: null,
    version: 0,
  }
}

/** Step ids are unique in a session (the agent numbers them across plans and turns), and a step
 * a turn began may end in the next one (after the user answered its question). */
function stepKey(_turnId: string | null, id: string): string {
  return `step:${id}`
}

function findStep(state: TimelineState, key: string): StepItem | undefined {
  for (let i = state.items.length - 1; i >= 0; i--) {
    const item = state.items[i]
    if (item?.kind === 'step' && item.stepKey === key) return item
  }
  return undefined
}

/** Every row of a step (usually one). */
function stepRows(state: TimelineState, key: string): StepItem[] {
  return state.items.filter((item): item is StepItem => item.kind === 'step' && item.stepKey === key)
}

/** The row new tool calls of the step go to: its last one, or a new one at the end when
 * something else (a message) came after it. */
function stepRowForTool(state: TimelineState, key: string, seq: number): StepItem | undefined {
  const step = findStep(state, key)
  if (!step || state.items[state.items.length - 1] === step) return step
  const row: StepItem = { ...step, key: `${key}#${seq}`, toolIds: [] }
  state.items.push(row)
  return row
}

function findStreaming(state: TimelineState, turnId: string | null): MessageItem | undefined {
  for (let i = state.items.length - 1; i >= 0; i--) {
    const item = state.items[i]
    if (item?.kind === 'message' && item.streaming && item.turnId === turnId) return item
  }
  return undefined
}

function endStreaming(state: TimelineState): void {
  for (const item of state.items) {
    if (item.kind === 'message' && item.streaming) item.streaming = false
  }
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null
}

function applyTool(state: TimelineState, event: SessionToolEvent): void {
  const existing = state.tools[event.tool_call_id]
  if (existing) {
    // `called` (or a repeated `calling`) replaces the call in place.
    existing.status = event.status
    existing.args = asRecord(event.args) ?? existing.args
    existing.content = asRecord(event.content) ?? existing.content
    existing.function = event.function
    existing.name = event.name
    existing.stopped = event.stopped ?? false
    return
  }
  const step = state.activeStepKey ? stepRowForTool(state, state.activeStepKey, event.seq) : undefined
  const call: ToolCall = {
    id: event.tool_call_id,
    name: event.name,
    function: event.function,
    args: asRecord(event.args) ?? {},
    status: event.status,
    content: asRecord(event.content),
    stepKey: step ? step.key : null,
    turnId: event.turn_id,
    timestamp: event.timestamp,
    stopped: event.stopped ?? false,
  }
  state.tools[call.id] = call
  state.toolOrder.push(call.id)
  if (step) step.toolIds.push(call.id)
  else state.items.push({ kind: 'tool', key: `tool:${call.id}`, toolId: call.id })
}

/** A rollback: everything the discarded turns put on the timeline goes (their events carry
 * their turn id; the server no longer replays them). The other turns' rows stay as they are. */
function dropTurns(state: TimelineState, turnIds: string[]): void {
  const gone = new Set(turnIds)
  const discarded = (turnId: string | null): boolean => turnId !== null && gone.has(turnId)
  const droppedTools = new Set(state.toolOrder.filter((id) => discarded(state.tools[id]?.turnId ?? null)))
  for (const id of droppedTools) delete state.tools[id]
  state.toolOrder = state.toolOrder.filter((id) => !droppedTools.has(id))
  state.items = state.items.filter((item) => {
    if (item.kind === 'tool') return !droppedTools.has(item.toolId)
    if (item.kind === 'error') return true
    return !discarded(item.turnId)
  })
  for (const item of state.items) {
    if (item.kind === 'step') item.toolIds = item.toolIds.filter((id) => !droppedTools.has(id))
  }
  if (state.activeStepKey && !state.items.some((i) => i.kind === 'step' && i.stepKey === state.activeStepKey)) {
    state.activeStepKey = null
  }
  if (discarded(state.planTurnId)) {
    state.plan = null
    state.planTurnId = null
  }
}

/** Applies one event. Returns false when it was dropped as a duplicate or stale replay. */
export function applyEvent(state: TimelineState, event: SessionEvent): boolean {
  if (event.seq <= state.lastSeq) return false
  state.lastSeq = event.seq
  state.version += 1
  // A note says what the turn waits for; whatever comes next means the wait is over.
  state.statusNote = event.type === 'status' && event.note ? event.note : null

  switch (event.type) {
    case 'message': {
      const streaming = event.role === 'assistant' ? findStreaming(state, event.turn_id) : undefined
      if (streaming) {
        // The full text replaces whatever was streamed.
        streaming.content = event.content
        streaming.attachments = event.attachments
        streaming.streaming = false
        streaming.cutShort = event.cut_short ?? false
        streaming.timestamp = event.timestamp
      } else {
        state.items.push({
          kind: 'message',
          key: `message:${event.seq}`,
          role: event.role,
          content: event.content,
          attachments: event.attachments,
          streaming: false,
          cutShort: event.cut_short ?? false,
          turnId: event.turn_id,
          timestamp: event.timestamp,
        })
      }
      break
    }
    case 'message_delta': {
      const last = state.items[state.items.length - 1]
      if (last?.kind === 'message' && last.streaming && last.turnId === event.turn_id) {
        last.content += event.delta
      } else {
        state.items.push({
          kind: 'message',
          key: `message:${event.seq}`,
          role: 'assistant',
          content: event.delta,
          attachments: [],
          streaming: true,
          cutShort: false,
          turnId: event.turn_id,
          timestamp: event.timestamp,
        })
      }
      break
    }
    case 'reasoning': {
      const item: ReasoningItem = {
        kind: 'reasoning',
        key: `reasoning:${event.seq}`,
        content: event.content,
        turnId: event.turn_id,
        timestamp: event.timestamp,
      }
      // The thought precedes its answer, even when the answer's tokens streamed in first.
      const streaming = findStreaming(state, event.turn_id)
      const at = streaming ? state.items.indexOf(streaming) : -1
      if (at >= 0) state.items.splice(at, 0, item)
      else state.items.push(item)
      break
    }
    case 'title':
      state.title = event.title
      break
    case 'plan': {
      state.plan = event.steps.map((step) => ({ ...step }))
      state.planTurnId = event.turn_id
      for (const planned of event.steps) {
        for (const item of stepRows(state, stepKey(event.turn_id, planned.id))) {
          if (!planned.status) continue
          item.status = planned.status
          item.result = planned.result ?? item.result
        }
      }
      break
    }
    case 'step': {
      const key = stepKey(event.turn_id, event.id)
      const rows = stepRows(state, key)
      for (const item of rows) {
        item.status = event.status
        item.description = event.description
        item.result = event.result ?? item.result
      }
      if (!rows.length) {
        state.items.push({
          kind: 'step',
          key,
          stepKey: key,
          id: event.id,
          description: event.description,
          status: event.status,
          result: event.result ?? null,
          toolIds: [],
          turnId: event.turn_id,
          timestamp: event.timestamp,
        })
      }
      if (event.status === 'running') state.activeStepKey = key
      else if (state.activeStepKey === key) state.activeStepKey = null
      // Keep the plan card in step with step events that arrive between plan events.
      const planned = state.plan?.find((step) => step.id === event.id)
      if (planned) {
        planned.status = event.status
        planned.result = event.result ?? planned.result ?? null
      }
      break
    }
    case 'tool':
      applyTool(state, event)
      break
    case 'error':
      endStreaming(state)
      state.items.push({ kind: 'error', key: `error:${event.seq}`, error: event.error, timestamp: event.timestamp })
      break
    case 'done':
      endStreaming(state)
      state.activeStepKey = null
      break
    case 'wait':
      endStreaming(state)
      // Provisional: the status event that follows is authoritative.
      state.status = 'waiting'
      state.approval = event.approval ?? null
      break
    case 'status':
      state.status = event.status
      if (event.status !== 'waiting') state.approval = null
      if (event.status !== 'running' && event.status !== 'pending') endStreaming(state)
      break
    case 'rollback':
      dropTurns(state, event.turn_ids)
      break
    default: {
      const unreachable: never = event
      return unreachable
    }
  }
  return true
}
