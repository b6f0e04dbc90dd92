import { mount } from '@vue/test-utils'
import { afterEach, describe, expect, it, vi } from 'vitest'

import ComputerPanel from '@/components/computer/ComputerPanel.vue'
import type { ToolCall } from '@/lib/timeline'

function call(id: string, name: string, fn: string, args: Record<string, unknown>, content: Record<string, unknown> | null): ToolCall {
  return { id, name, function: fn, args, status: 'called', content, stepKey: null, turnId: 't', timestamp: 0, stopped: false }
}

const SHELL = call('c1', 'shell', 'shell_exec', { id: 'main', command: 'ls' }, {
  console: [
    { ps1: 'ubuntu@sandbox:~ $', command: 'ls', output: 'notes.txt\nreport.md' },
    { ps1: 'ubuntu@sandbox:~ $', command: 'whoami', output: 'ubuntu' },
  ],
})
const FILE = call('c2', 'file', 'file_write', { file: '/home/ubuntu/hello.py' }, {
  file: '/home/ubuntu/hello.py',
  content: 'def hello():\n    return "hi"\n',
  old_content: 'def hello():\n    return "hello"\n',
})
const SEARCH = call('c3', 'search', 'info_search_web', { query: 'vue 3 release' }, {
  query: 'vue 3 release',
  results: [
    { title: 'Vue 3 is out', link: 'https://blog.vuejs.org/posts/vue-3', snippet: 'Announcing Vue 3.0' },
    { title: 'Bad link', link: 'javascript:alert(1)', snippet: '' },
  ],
})
const TOOLS = [SHELL, FILE, SEARCH]

function mountPanel(selectedToolId: string | null) {
  return mount(ComputerPanel, {
    props: { sessionId: 's1', tools: TOOLS, selectedToolId, status: 'completed', allowLive: true },
  })
}

describe('ComputerPanel', () => {
  afterEach(() => vi.unstubAllGlobals())

  it('renders shell console records terminal-style', () => {
    const fetchMock = vi.fn()
    vi.stubGlobal('fetch', fetchMock)
    const wrapper = mountPanel('c1')

    const records = wrapper.findAll('[data-testid="shell-record"]')
    expect(records.map((r) => [r.get('.ps1').text(), r.get('.command').text(), r.find('.output').text()])).toEqual([
      ['ubuntu@sandbox:~ $', 'ls', 'notes.txt\nreport.md'],
      ['ubuntu@sandbox:~ $', 'whoami', 'ubuntu'],
    ])
    expect(wrapper.get('[data-testid="computer-activity"]').text()).toBe('Anker used the terminal · Ran ls')
    expect(fetchMock).not.toHaveBeenCalled()
  })

  it('shows a diff for file writes with old content, and the highlighted file on its tab', async () => {
    const wrapper = mountPanel('c2')

    expect(wrapper.get('[data-testid="file-path"]').text()).toBe('/home/ubuntu/hello.py')
    const rows = wrapper.findAll('[data-testid="file-diff"] .diff-row')
    expect(rows.map((row) => [row.attributes('data-kind'), row.get('.diff-text').text()])).toEqual([
      ['same', 'def hello():'],
      ['del', 'return "hello"'],
      ['add', 'return "hi"'],
    ])

    await wrapper.get('[data-testid="file-tab-file"]').trigger('click')
    const code = wrapper.get('[data-testid="file-content"]')
    expect(code.element.textContent).toBe('def hello():\n    return "hi"\n')
    expect(code.find('.hljs-keyword').text()).toBe('def')
  })

  it('lists search results with safe links', () => {
    const wrapper = mountPanel(null)

    expect(wrapper.get('[data-testid="search-query"]').text()).toBe('vue 3 release')
    const results = wrapper.findAll('[data-testid="search-result"]')
    expect(results.map((r) => r.get('a').text())).toEqual(['Vue 3 is out', 'Bad link'])
    expect(results[0]?.get('a').attributes()).toMatchObject({
      href: 'https://blog.vuejs.org/posts/vue-3',
      target: '_blank',
      rel: 'noopener noreferrer',
    })
    expect(results[1]?.get('a').attributes('href')).toBeUndefined()
  })

  it('speaks in the present and shows Live only while the turn runs', async () => {
    const wrapper = mountPanel(null)
    expect(wrapper.find('[data-testid="live-badge"]').exists()).toBe(false)
    expect(wrapper.get('[data-testid="computer-activity"]').text()).toBe('Anker used the search · Searched vue 3 release')

    await wrapper.setProps({ status: 'running' })
    expect(wrapper.find('[data-testid="live-badge"]').exists()).toBe(true)
    expect(wrapper.get('[data-testid="computer-activity"]').text()).toBe(
      'Anker is using the search · Searching vue 3 release',
    )
  })

  it('shows a file path as it is', () => {
    const wrapper = mount(ComputerPanel, {
      props: {
        sessionId: 's1',
        tools: [call('c9', 'file', 'file_read', { file: '/workspace/report.md' }, { file: '/workspace/report.md', content: '# R' })],
        selectedToolId: null,
        status: 'completed',
        allowLive: true,
      },
    })
    const path = wrapper.get('[data-testid="file-path"]')
    expect(path.text()).toBe('/workspace/report.md')
    expect(path.attributes('dir')).toBe('ltr')
  })

  it('follows the latest call when live and scrubs through history', async () => {
    const wrapper = mount(ComputerPanel, {
      props: { sessionId: 's1', tools: TOOLS, selectedToolId: null, status: 'running', allowLive: false },
    })
    const slider = wrapper.get<HTMLInputElement>('[data-testid="history-slider"]')
    expect(slider.element.value).toBe('2')
    expect(wrapper.find('[data-testid="live-badge"]').exists()).toBe(true)

    await slider.setValue('0')
    expect(wrapper.emitted('select')).toEqual([['c1']])

    await wrapper.setProps({ selectedToolId: 'c1' })
    expect(wrapper.find('[data-testid="shell-view"]').exists()).toBe(true)
    await wrapper.get('[data-testid="jump-to-live"]').trigger('click')
    expect(wrapper.emitted('select')).toEqual([['c1'], [null]])
  })
})
