import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'

import StepGroup from '@/components/StepGroup.vue'
import type { StepItem, ToolCall } from '@/lib/timeline'

const STEP: StepItem = {
  kind: 'step',
  key: 't:1',
  stepKey: 't:1',
  id: '1',
  description: 'Collect the data',
  status: 'running',
  result: null,
  toolIds: ['a', 'b'],
  turnId: 't',
  timestamp: 0,
}

const TOOLS: ToolCall[] = [
  { id: 'a', name: 'search', function: 'info_search_web', args: { query: 'sales 2024' }, status: 'called', content: null, stepKey: 't:1', turnId: 't', timestamp: 0, stopped: false },
  { id: 'b', name: 'file', function: 'file_read', args: { file: '/data/sales.csv' }, status: 'calling', content: null, stepKey: 't:1', turnId: 't', timestamp: 0, stopped: false },
]

describe('StepGroup', () => {
  it('lists the step tool calls and collapses them', async () => {
    const wrapper = mount(StepGroup, { props: { step: STEP, tools: TOOLS, selectedToolId: null } })
    const row = wrapper.get('[data-testid="step-row"]')

    expect(row.text()).toBe('In progressCollect the data')
    expect(wrapper.findAll('[data-testid="tool-label"]').map((l) => l.text())).toEqual([
      'Searched sales 2024', // done
      'Reading sales.csv', // still running
    ])
    expect(row.attributes('aria-expanded')).toBe('true')

    await row.trigger('click')

    expect(row.attributes('aria-expanded')).toBe('false')
    expect(wrapper.get('.step-body').attributes('style')).toBe('display: none;')
  })

  it('forwards tool clicks', async () => {
    const wrapper = mount(StepGroup, { props: { step: STEP, tools: TOOLS, selectedToolId: null } })
    await wrapper.findAll('[data-testid="tool-row"]')[1]?.trigger('click')
    expect(wrapper.emitted('open')).toEqual([['b']])
  })
})
