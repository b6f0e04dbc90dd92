import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'

import ToolRow from '@/components/ToolRow.vue'
import type { ToolCall } from '@/lib/timeline'

function call(name: string, fn: string, args: Record<string, unknown>, status: ToolCall['status'] = 'called'): ToolCall {
  return { id: `${fn}-1`, name, function: fn, args, status, content: null, stepKey: null, turnId: 't', timestamp: 0, stopped: false }
}

describe('ToolRow', () => {
  it.each([
    [call('shell', 'shell_exec', { id: 'main', command: 'ls -la' }), 'Ran ls -la'],
    [call('file', 'file_read', { file: '/home/ubuntu/app/main.py' }), 'Read main.py'],
    [call('file', 'file_write', { file: '/tmp/report.md', content: '# hi' }), 'Wrote report.md'],
    [call('file', 'file_str_replace', { file: '/srv/app.ts', old_str: 'a', new_str: 'b' }), 'Edited app.ts'],
    [call('browser', 'browser_navigate', { url: 'https://www.example.com/docs?page=2' }), 'Browsed example.com'],
    [call('search', 'info_search_web', { query: 'vector databases' }), 'Searched vector databases'],
    [call('mcp', 'weather_lookup', {}), 'Used weather_lookup'],
  ])('labels %#: %s', (tool, expected) => {
    const wrapper = mount(ToolRow, { props: { tool } })
    expect(wrapper.get('[data-testid="tool-label"]').text()).toBe(expected)
  })

  it('shows the command as code', () => {
    const wrapper = mount(ToolRow, { props: { tool: call('shell', 'shell_exec', { command: 'pip install -r requirements.txt' }) } })
    expect(wrapper.get('code').text()).toBe('pip install -r requirements.txt')
  })

  it('shimmers while calling and not once called', () => {
    const calling = mount(ToolRow, { props: { tool: call('shell', 'shell_exec', { command: 'make' }, 'calling') } })
    const called = mount(ToolRow, { props: { tool: call('shell', 'shell_exec', { command: 'make' }, 'called') } })

    expect(calling.get('[data-testid="tool-label"]').classes()).toContain('shimmer-text')
    expect(calling.get('[data-testid="tool-row"]').attributes('aria-label')).toBe(
      'Running make (running). Open in the computer panel',
    )
    expect(called.get('[data-testid="tool-label"]').classes()).not.toContain('shimmer-text')
    expect(called.get('[data-testid="tool-label"]').text()).toBe('Ran make')
  })

  it('asks to open the call in the computer panel on click', async () => {
    const wrapper = mount(ToolRow, { props: { tool: call('search', 'info_search_web', { query: 'x' }) } })
    await wrapper.get('[data-testid="tool-row"]').trigger('click')
    expect(wrapper.emitted('open')).toEqual([['info_search_web-1']])
  })
})
