import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'

import * as ev from '@/__tests__/events'
import TimelineItems from '@/components/chat/TimelineItems.vue'
import { applyEvent, createTimelineState } from '@/lib/timeline'
import type { TimelineState } from '@/lib/timeline'
import type { SessionEvent } from '@/types/session-events'

function timelineOf(events: SessionEvent[]): TimelineState {
  const state = createTimelineState()
  for (const event of events) applyEvent(state, event)
  return state
}

describe('the model reasoning in the timeline', () => {
  beforeEach(() => setActivePinia(createPinia()))

  it('sits before the answer it led to, even when the answer streamed in first', () => {
    const state = timelineOf([
      ev.userMessage(1, '2+2?'),
      ev.delta(2, 'Fo'),
      ev.reasoning(3, 'let me think: 2+2 is 4'),
      ev.assistantMessage(4, 'Four.'),
    ])

    expect(state.items.map((item) => item.kind)).toEqual(['message', 'reasoning', 'message'])
    expect(state.items[1]).toMatchObject({ content: 'let me think: 2+2 is 4' })
  })

  it('is shown folded under "Thinking", its text inside the fold', () => {
    const state = timelineOf([ev.userMessage(1, '2+2?'), ev.reasoning(2, 'let me think'), ev.assistantMessage(3, 'Four.')])
    const wrapper = mount(TimelineItems, { props: { items: state.items, tools: state.tools, selectedToolId: null } })

    const note = wrapper.get('[data-testid="reasoning"]')
    expect(note.get('summary').text()).toBe('Thinking')
    expect((note.element as HTMLDetailsElement).open).toBe(false)
    expect(wrapper.get('[data-testid="reasoning-text"]').text()).toBe('let me think')
  })

  it('goes with its turn when the turn is rolled back', () => {
    const state = timelineOf([
      ev.userMessage(1, 'Hi', 't1'),
      ev.reasoning(2, 'hmm', 't1'),
      { ...ev.reasoning(3, 'kept', 't0') },
    ])
    applyEvent(state, { type: 'rollback', seq: 4, event_id: '4', timestamp: 0, turn_id: 't1', turn_ids: ['t1'], from_seq: 1, to_seq: 3 })

    expect(state.items.map((item) => (item.kind === 'reasoning' ? item.content : item.kind))).toEqual(['kept'])
  })
})
