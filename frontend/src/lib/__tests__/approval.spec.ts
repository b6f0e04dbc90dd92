import { describe, expect, it } from 'vitest'

import * as ev from '@/__tests__/events'
import { applyEvent, createTimelineState } from '@/lib/timeline'
import { toolLabelText } from '@/lib/tool-label'
import type { ToolCall } from '@/lib/timeline'

const request = { tool_call_id: 'call_sh', tool: 'shell_exec', args: { command: 'ls' }, reason: 'Step 1: list' }

describe('approvals in the timeline', () => {
  it('keeps the approval a wait event carries until the session runs again', () => {
    const state = createTimelineState()

    applyEvent(state, { ...ev.wait(1), approval: request })
    applyEvent(state, ev.status(2, 'waiting'))
    expect(state.approval).toEqual(request)

    applyEvent(state, ev.status(3, 'running'))
    expect(state.approval).toBeNull()
  })

  it('has no approval for a wait that asks a question', () => {
    const state = createTimelineState()

    applyEvent(state, ev.wait(1))

    expect(state.approval).toBeNull()
    expect(state.status).toBe('waiting')
  })
})

describe('MCP tool labels', () => {
  it('names the tool and its server', () => {
    const tool = { id: 'c1', name: 'mcp', function: 'mcp_calc_add_numbers', args: {}, status: 'called' } as unknown as ToolCall

    expect(toolLabelText(tool)).toBe('Used add_numbers (calc)')
  })
})
