import { mount } from '@vue/test-utils'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { fakeApi, settle } from '@/__tests__/fake-api'
import ComputerPanel from '@/components/computer/ComputerPanel.vue'
import type { ToolCall } from '@/lib/timeline'

function mcpCall(status: ToolCall['status'], content: Record<string, unknown> | null): ToolCall {
  return {
    id: 'c1',
    name: 'mcp',
    function: 'mcp_pics_add',
    args: { a: 2, b: 40 },
    status,
    content,
    stepKey: null,
    turnId: 't',
    timestamp: 0,
    stopped: false,
  }
}

function mountPanel(tool: ToolCall) {
  return mount(ComputerPanel, {
    props: { sessionId: 's1', tools: [tool], selectedToolId: 'c1', status: 'completed', allowLive: true },
  })
}

describe('the MCP tool view in the computer panel', () => {
  beforeEach(() => localStorage.setItem('anker.signed_in', '1'))
  afterEach(() => vi.unstubAllGlobals())

  it('shows the server, the tool, its arguments and its text result', () => {
    fakeApi({})
    const wrapper = mountPanel(mcpCall('called', { server: 'pics', tool: 'add', text: '42', image_file_ids: [] }))

    const view = wrapper.get('[data-testid="mcp-view"]')
    expect([view.get('[data-testid="mcp-tool"]').text(), view.get('.mcp-server').text()]).toEqual(['add', 'on pics'])
    expect(JSON.parse(view.get('[data-testid="mcp-args"]').text())).toEqual({ a: 2, b: 40 })
    expect(view.get('[data-testid="mcp-text"]').text()).toBe('42')
    expect(wrapper.find('[data-testid="generic-view"]').exists()).toBe(false)
  })

  it('shows the images the tool returned, read from the stored files', async () => {
    const { seen } = fakeApi({
      'GET /files/f-img/download': () =>
        Promise.resolve(new Response(new Blob(['png']), { status: 200, headers: { 'Content-Type': 'image/png' } })),
    })
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: () => 'blob:mcp-1', revokeObjectURL: () => {} }))
    const wrapper = mountPanel(mcpCall('called', { server: 'pics', tool: 'draw', text: '', image_file_ids: ['f-img'] }))
    await settle()

    const image = wrapper.get('[data-testid="mcp-image"]')
    expect(image.attributes('src')).toBe('blob:mcp-1')
    expect(image.attributes('alt')).toBe('Image 1 returned by draw')
    expect(seen.map((r) => r.path)).toEqual(['/files/f-img/download'])
  })

  it('shows the error the model was given, and waits while the call runs', async () => {
    fakeApi({})
    const failed = mountPanel(mcpCall('called', { error: "MCP tool add of 'pics' returned an error: boom" }))
    expect(failed.get('[data-testid="mcp-error"]').text()).toBe("MCP tool add of 'pics' returned an error: boom")

    const running = mountPanel(mcpCall('calling', null))
    await settle()
    expect(running.get('[data-testid="mcp-view"]').text()).toContain('Waiting for the server…')
    expect(running.get('[data-testid="mcp-tool"]').text()).toBe('pics_add')
  })
})
