// The worked example of docs/adding-a-tool.md: the clock toolkit's label in the timeline.
import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'

import ToolRow from '@/components/ToolRow.vue'
import type { ToolCall } from '@/lib/timeline'

function clock(args: Record<string, unknown>, status: ToolCall['status']): ToolCall {
  return { id: 'clock-1', name: 'clock', function: 'clock_now', args, status, content: null, stepKey: null, turnId: 't', timestamp: 0, stopped: false }
}

describe('the clock toolkit in the timeline', () => {
  it.each([
    [clock({ timezone: 'Asia/Tokyo' }, 'calling'), 'Checking the time in Asia/Tokyo'],
    [clock({ timezone: 'Asia/Tokyo' }, 'called'), 'Checked the time in Asia/Tokyo'],
    [clock({}, 'called'), 'Checked the time in UTC'],
  ])('labels %#: %s', (tool, expected) => {
    const wrapper = mount(ToolRow, { props: { tool } })
    expect(wrapper.get('[data-testid="tool-label"]').text()).toBe(expected)
  })
})
