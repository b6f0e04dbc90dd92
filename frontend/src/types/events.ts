/* eslint-disable */
/**
 * GENERATED from schema/events.json by `npm run gen:types`. Do not edit by hand:
 * the backend owns the event schema; regenerate after it changes.
 */

export type AnkerEvent =
  | MessageEvent
  | MessageDeltaEvent
  | ReasoningEvent
  | TitleEvent
  | PlanEvent
  | StepEvent
  | ToolEvent
  | ErrorEvent
  | DoneEvent
  | WaitEvent
  | StatusEvent
  | RollbackEvent
export type ContentType = string
export type FileId = string
export type FileUrl = string
export type Filename = string
export type Size = number
export type Attachments = FileInfo[]
export type Content = string
export type CutShort = boolean
export type EventId = string
export type Role = 'user' | 'assistant'
export type Seq = number
export type Timestamp = number
export type TurnId = string | null
export type Type = 'message'
export type Delta = string
export type EventId1 = string
export type Role1 = 'user' | 'assistant'
export type Seq1 = number
export type Timestamp1 = number
export type TurnId1 = string | null
export type Type1 = 'message_delta'
export type Content1 = string
export type EventId2 = string
export type Seq2 = number
export type Timestamp2 = number
export type TurnId2 = string | null
export type Type2 = 'reasoning'
export type EventId3 = string
export type Seq3 = number
export type Timestamp3 = number
export type Title = string
export type TurnId3 = string | null
export type Type3 = 'title'
export type EventId4 = string
export type Seq4 = number
export type Description = string
export type Id = string
export type Result = string | null
export type Status = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled'
export type Steps = PlanStep[]
export type Timestamp4 = number
export type TurnId4 = string | null
export type Type4 = 'plan'
export type Description1 = string
export type EventId5 = string
export type Id1 = string
export type Result1 = string | null
export type Seq5 = number
export type Status1 = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled'
export type Timestamp5 = number
export type TurnId5 = string | null
export type Type5 = 'step'
export type Content2 = {
  [k: string]: unknown | undefined
} | null
export type EventId6 = string
export type Function = string
export type Name = string
export type Seq6 = number
export type Status2 = 'calling' | 'called'
export type Stopped = boolean
export type Timestamp6 = number
export type ToolCallId = string
export type TurnId6 = string | null
export type Type6 = 'tool'
export type Error = string
export type EventId7 = string
export type Seq7 = number
export type Timestamp7 = number
export type TurnId7 = string | null
export type Type7 = 'error'
export type EventId8 = string
export type Seq8 = number
export type Timestamp8 = number
export type TurnId8 = string | null
export type Type8 = 'done'
export type Reason = string
export type Tool = string
export type ToolCallId1 = string
export type EventId9 = string
export type Seq9 = number
export type Timestamp9 = number
export type TurnId9 = string | null
export type Type9 = 'wait'
export type EventId10 = string
export type Note = string
export type Seq10 = number
export type Status3 = 'pending' | 'running' | 'waiting' | 'completed' | 'stopped' | 'failed'
export type Timestamp10 = number
export type TurnId10 = string | null
export type Type10 = 'status'
export type EventId11 = string
export type FromSeq = number
export type Seq11 = number
export type Timestamp11 = number
export type ToSeq = number
export type TurnId11 = string | null
export type TurnIds = string[]
export type Type11 = 'rollback'

export interface MessageEvent {
  attachments?: Attachments
  content: Content
  cut_short?: CutShort
  event_id?: EventId
  role: Role
  seq?: Seq
  timestamp?: Timestamp
  turn_id?: TurnId
  type?: Type
}
/**
 * A file attached to a message: stored in GridFS, downloadable by its owner.
 */
export interface FileInfo {
  content_type?: ContentType
  file_id: FileId
  file_url?: FileUrl
  filename: Filename
  size?: Size
}
/**
 * A piece of the assistant's answer while it streams; the full ``message`` follows.
 */
export interface MessageDeltaEvent {
  delta: Delta
  event_id?: EventId1
  role?: Role1
  seq?: Seq1
  timestamp?: Timestamp1
  turn_id?: TurnId1
  type?: Type1
}
/**
 * What a thinking model reasoned before an answer or a round of tool calls
 * (`reasoning_content` / `reasoning`). Shown collapsed; never part of the answer, never sent
 * back to the model. Long reasoning is cut to ``REASONING_MAX_CHARS``.
 */
export interface ReasoningEvent {
  content: Content1
  event_id?: EventId2
  seq?: Seq2
  timestamp?: Timestamp2
  turn_id?: TurnId2
  type?: Type2
}
export interface TitleEvent {
  event_id?: EventId3
  seq?: Seq3
  timestamp?: Timestamp3
  title: Title
  turn_id?: TurnId3
  type?: Type3
}
export interface PlanEvent {
  event_id?: EventId4
  seq?: Seq4
  steps: Steps
  timestamp?: Timestamp4
  turn_id?: TurnId4
  type?: Type4
}
export interface PlanStep {
  description: Description
  id: Id
  result?: Result
  status?: Status
}
export interface StepEvent {
  description: Description1
  event_id?: EventId5
  id: Id1
  result?: Result1
  seq?: Seq5
  status: Status1
  timestamp?: Timestamp5
  turn_id?: TurnId5
  type?: Type5
}
/**
 * A tool call: sent with ``status="calling"`` before and ``"called"`` after.
 *
 * ``name`` is the toolkit (shell, file, browser, search, message), ``function`` the
 * tool; ``content`` is what the UI shows (console records, file text, a screenshot
 * file, search results) and is only set on ``called``. A call a stop cut off ends
 * ``called`` with ``stopped`` true (and what it showed so far in ``content``).
 */
export interface ToolEvent {
  args?: Args
  content?: Content2
  event_id?: EventId6
  function: Function
  name: Name
  seq?: Seq6
  status: Status2
  stopped?: Stopped
  timestamp?: Timestamp6
  tool_call_id: ToolCallId
  turn_id?: TurnId6
  type?: Type6
}
export interface Args {
  [k: string]: unknown | undefined
}
export interface ErrorEvent {
  error: Error
  event_id?: EventId7
  seq?: Seq7
  timestamp?: Timestamp7
  turn_id?: TurnId7
  type?: Type7
}
export interface DoneEvent {
  event_id?: EventId8
  seq?: Seq8
  timestamp?: Timestamp8
  turn_id?: TurnId8
  type?: Type8
}
/**
 * The agent asked the user something, or a tool call waits for approval (``approval``);
 * the turn ends ``waiting``.
 */
export interface WaitEvent {
  approval?: ApprovalRequest | null
  event_id?: EventId9
  seq?: Seq9
  timestamp?: Timestamp9
  turn_id?: TurnId9
  type?: Type9
}
/**
 * A tool call waiting for the user's approval: what would run, with what, and why.
 */
export interface ApprovalRequest {
  args?: Args1
  reason?: Reason
  tool: Tool
  tool_call_id: ToolCallId1
}
export interface Args1 {
  [k: string]: unknown | undefined
}
export interface StatusEvent {
  event_id?: EventId10
  note?: Note
  seq?: Seq10
  status: Status3
  timestamp?: Timestamp10
  turn_id?: TurnId10
  type?: Type10
}
/**
 * Turns were rolled back (``multitask_strategy=rollback``): every event of ``turn_ids`` with
 * a seq from ``from_seq`` to ``to_seq`` is discarded. The log no longer returns them (replay,
 * ``GET /sessions/{id}``); a reader that already has them drops them when this event arrives.
 * ``turn_id`` is the turn that was running (null when only queued turns were rolled back).
 */
export interface RollbackEvent {
  event_id?: EventId11
  from_seq: FromSeq
  seq?: Seq11
  timestamp?: Timestamp11
  to_seq: ToSeq
  turn_id?: TurnId11
  turn_ids: TurnIds
  type?: Type11
}
