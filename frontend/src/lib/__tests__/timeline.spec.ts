import { describe, expect, it } from 'vitest'

import * as ev from '@/__tests__/events'
import { applyEvent, createTimelineState } from '@/lib/timeline'
import type { MessageItem, StepItem, TimelineState } from '@/lib/timeline'
import type { SessionEvent } from '@/types/session-events'

function applyAll(state: TimelineState, events: SessionEvent[]): boolean[] {
  return events.map((event) => applyEvent(state, event))
}

describe('timeline reducer', () => {
  it('streams deltas into one assistant message, then the final message replaces the text', () => {
    const state = createTimelineState()
    applyAll(state, [ev.userMessage(1, 'Hi'), ev.delta(2, 'Hel'), ev.delta(3, 'lo **wor')])

    expect(state.items).toHaveLength(2)
    const streaming = state.items[1] as MessageItem
    expect(streaming).toMatchObject({ kind: 'message', role: 'assistant', content: 'Hello **wor', streaming: true })

    applyEvent(state, ev.assistantMessage(4, 'Hello **world**'))

    expect(state.items).toHaveLength(2)
    expect(state.items[1]).toMatchObject({ kind: 'message', role: 'assistant', content: 'Hello **world**', streaming: false })
    expect(state.lastSeq).toBe(4)
  })

  it("shows a status event's note until the next event", () => {
    const state = createTimelineState()
    applyAll(state, [ev.userMessage(1, 'Hi'), ev.status(2, 'running', 'Building the sandbox image')])
    expect([state.status, state.statusNote]).toEqual(['running', 'Building the sandbox image'])

    applyEvent(state, ev.delta(3, 'Hel'))

    expect([state.status, state.statusNote]).toEqual(['running', null])
  })

  it('adds a separate assistant message when nothing was streamed', () => {
    const state = createTimelineState()
    applyAll(state, [ev.userMessage(1, 'Hi'), ev.assistantMessage(2, 'Hello')])

    expect(state.items.map((item) => item.kind === 'message' && [item.role, item.content, item.streaming])).toEqual([
      ['user', 'Hi', false],
      ['assistant', 'Hello', false],
    ])
  })

  it('replaces the plan on every plan event', () => {
    const state = createTimelineState()
    applyEvent(state, ev.plan(1, [
      { id: '1', description: 'Search', status: 'running' },
      { id: '2', description: 'Write', status: 'pending' },
    ]))
    applyEvent(state, ev.plan(2, [{ id: '1', description: 'Search again', status: 'completed', result: 'ok' }]))

    expect(state.plan).toEqual([{ id: '1', description: 'Search again', status: 'completed', result: 'ok' }])
  })

  it('groups tool calls under the running step and replaces calling with called in place', () => {
    const state = createTimelineState()
    const shell = { name: 'shell', function: 'shell_exec', args: { id: 'main', command: 'ls -la' } }
    applyAll(state, [
      ev.step(1, '1', 'running', 'List files'),
      ev.tool(2, 'call-1', 'calling', shell),
      ev.tool(3, 'call-1', 'called', {
        ...shell,
        content: { console: [{ ps1: '$', command: 'ls -la', output: 'a.txt' }] },
      }),
      ev.step(4, '1', 'completed', 'List files', 'Found one file'),
    ])

    expect(state.items).toHaveLength(1)
    const stepItem = state.items[0] as StepItem
    expect(stepItem).toMatchObject({ kind: 'step', id: '1', status: 'completed', result: 'Found one file', toolIds: ['call-1'] })
    expect(state.toolOrder).toEqual(['call-1'])
    expect(state.tools['call-1']).toMatchObject({
      status: 'called',
      stepKey: stepItem.key,
      content: { console: [{ ps1: '$', command: 'ls -la', output: 'a.txt' }] },
    })
  })

  it('puts tool calls outside a running step into the timeline on their own', () => {
    const state = createTimelineState()
    applyEvent(state, ev.tool(1, 'call-9', 'calling', { name: 'search', function: 'info_search_web', args: { query: 'vue' } }))

    expect(state.items).toEqual([{ kind: 'tool', key: 'tool:call-9', toolId: 'call-9' }])
    expect(state.tools['call-9']?.stepKey).toBeNull()
  })

  it('drops duplicate and out-of-order events by seq', () => {
    const state = createTimelineState()
    const applied = applyAll(state, [
      ev.userMessage(1, 'Hi'),
      ev.delta(2, 'A'),
      ev.delta(2, 'A'),
      ev.delta(3, 'B'),
      ev.delta(1, 'stale'),
      ev.delta(4, 'C'),
    ])

    expect(applied).toEqual([true, true, false, true, false, true])
    expect((state.items[1] as MessageItem).content).toBe('ABC')
    expect(state.lastSeq).toBe(4)
    expect(state.version).toBe(4)
  })

  it('takes the status from status events and ends streaming on wait, done and error', () => {
    const state = createTimelineState()
    applyAll(state, [ev.status(1, 'running'), ev.delta(2, 'Which city?'), ev.wait(3)])
    expect(state.status).toBe('waiting')
    expect((state.items[0] as MessageItem).streaming).toBe(false)

    applyAll(state, [ev.status(4, 'running'), ev.error(5, 'The LLM API key is invalid: set LLM_API_KEY.'), ev.status(6, 'failed')])
    expect(state.status).toBe('failed')
    expect(state.items[1]).toEqual({
      kind: 'error',
      key: 'error:5',
      error: 'The LLM API key is invalid: set LLM_API_KEY.',
      timestamp: 1_700_000_005,
    })
  })

  it('keeps the plan card in step with step events', () => {
    const state = createTimelineState()
    applyAll(state, [
      ev.plan(1, [{ id: '1', description: 'Search', status: 'pending' }]),
      ev.step(2, '1', 'running', 'Search'),
    ])
    expect(state.plan?.[0]?.status).toBe('running')
  })
})

describe('timeline order', () => {
  const ask = { name: 'message', function: 'message_ask_user', args: { text: 'Which city?' } }
  const shell = { name: 'shell', function: 'shell_exec', args: { id: 'main', command: 'ls' } }
  const later = (event: SessionEvent): SessionEvent => ({ ...event, turn_id: 'turn-2' })

  it('puts the tool calls that follow an answer after it, in a new row of the same step', () => {
    const state = createTimelineState()
    applyAll(state, [
      ev.userMessage(1, 'Find a hotel'),
      ev.step(2, '1', 'running', 'Ask the city'),
      ev.tool(3, 'call-ask', 'calling', ask),
      ev.tool(4, 'call-ask', 'called', ask),
      ev.assistantMessage(5, 'Which city?'),
      ev.wait(6),
      ev.status(7, 'waiting'),
      ev.userMessage(8, 'Lisbon', 'turn-2'),
      later(ev.status(9, 'running')),
      later(ev.tool(10, 'call-ls', 'calling', shell)),
      later(ev.tool(11, 'call-ls', 'called', shell)),
      later(ev.step(12, '1', 'completed', 'Ask the city', 'Lisbon')),
    ])

    expect(state.items.map((item) => [item.kind, item.key])).toEqual([
      ['message', 'message:1'],
      ['step', 'step:1'],
      ['message', 'message:5'],
      ['message', 'message:8'],
      ['step', 'step:1#10'],
    ])
    const [first, second] = state.items.filter((item): item is StepItem => item.kind === 'step')
    expect(first).toMatchObject({ toolIds: ['call-ask'], status: 'completed' })
    expect(second).toMatchObject({ toolIds: ['call-ls'], status: 'completed', result: 'Lisbon' })
  })

  it('shows the stopped answer as cut short and a stopped call as stopped', () => {
    const state = createTimelineState()
    applyAll(state, [
      ev.userMessage(1, 'Write a long poem'),
      ev.delta(2, 'Roses are'),
      { ...ev.assistantMessage(3, 'Roses are'), cut_short: true },
      ev.step(4, '1', 'running'),
      ev.tool(5, 'call-1', 'calling', shell),
      { ...ev.tool(6, 'call-1', 'called', { ...shell, content: { error: 'Stopped before it finished.' } }), stopped: true },
      ev.step(7, '1', 'cancelled'),
      ev.status(8, 'stopped'),
    ])

    expect(state.items[1]).toMatchObject({ kind: 'message', content: 'Roses are', cutShort: true, streaming: false })
    expect(state.tools['call-1']).toMatchObject({ status: 'called', stopped: true })
    expect(state.items[2]).toMatchObject({ kind: 'step', status: 'cancelled' })
    expect(state.status).toBe('stopped')
  })

  it('drops what a rolled-back turn showed, keeps the other turns, and applies what follows', () => {
    const state = createTimelineState()
    const shell = { name: 'shell', function: 'shell_exec', args: { id: 'main', command: 'seq 1000000' } }
    const second = (event: SessionEvent): SessionEvent => ({ ...event, turn_id: 'turn-2' })
    applyAll(state, [
      ev.userMessage(1, 'Count to three'),
      ev.assistantMessage(2, 'Counted to three.'),
      ev.userMessage(3, 'Now to a million', 'turn-2'),
      second(ev.plan(4, [{ id: '1', description: 'Count', status: 'running' }])),
      second(ev.step(5, '1', 'running', 'Count')),
      second(ev.tool(6, 'call-1', 'calling', shell)),
      second(ev.delta(7, 'Counting')),
      ev.userMessage(8, 'Only to ten, please', 'turn-3'),
      ev.rollback(9, ['turn-2'], 3, 8),
    ])

    expect(state.items.map((item) => item.kind === 'message' && item.content)).toEqual([
      'Count to three',
      'Counted to three.',
      'Only to ten, please',
    ])
    expect(state.tools).toEqual({})
    expect(state.toolOrder).toEqual([])
    expect(state.plan).toBeNull()
    expect(state.activeStepKey).toBeNull()
    expect(state.lastSeq).toBe(9)
    // The discarded seqs never come back (the server skips them), and later ones apply as usual.
    expect(applyEvent(state, ev.assistantMessage(10, 'Counted to ten.', 'turn-3'))).toBe(true)
    expect(state.items).toHaveLength(4)
  })
})
