import { describe, expect, it } from 'vitest'
import { effectScope, nextTick, ref } from 'vue'

import { useComputerPanel } from '@/composables/useComputerPanel'
import type { ToolCall } from '@/lib/timeline'

function call(id: string): ToolCall {
  return { id, name: 'shell', function: 'shell_exec', args: {}, status: 'called', content: null, stepKey: null, turnId: 't', timestamp: 0, stopped: false }
}

describe('useComputerPanel', () => {
  function start(wide: boolean) {
    const id = ref('s1')
    const tools = ref<ToolCall[]>([])
    const scope = effectScope()
    const panel = scope.run(() => useComputerPanel(id, () => tools.value, () => wide))!
    return { id, tools, scope, panel }
  }

  it('opens by itself on a wide screen when a tool call starts, until the user closes it', async () => {
    const { tools, scope, panel } = start(true)
    tools.value = [call('a')]
    await nextTick()
    expect(panel.open.value).toBe(true)

    panel.close()
    tools.value = [call('a'), call('b')]
    await nextTick()

    expect(panel.open.value).toBe(false)
    scope.stop()
  })

  it('stays closed on a narrow screen until asked', async () => {
    const { tools, scope, panel } = start(false)
    tools.value = [call('a')]
    await nextTick()
    expect(panel.open.value).toBe(false)

    panel.toggle()
    expect(panel.open.value).toBe(true)
    panel.toggle()
    expect(panel.open.value).toBe(false)
    scope.stop()
  })

  it('shows an older call by id and the latest one as "follow the latest"', () => {
    const { tools, scope, panel } = start(false)
    tools.value = [call('a'), call('b')]

    panel.openTool('a')
    expect([panel.open.value, panel.selectedToolId.value]).toEqual([true, 'a'])
    panel.openTool('b')
    expect(panel.selectedToolId.value).toBeNull()
    scope.stop()
  })

  it('starts closed and undismissed for another session', async () => {
    const { id, tools, scope, panel } = start(true)
    tools.value = [call('a'), call('b')]
    panel.openTool('a')
    panel.close()

    id.value = 's2'
    tools.value = [] // the new session's timeline starts empty
    await nextTick()
    expect([panel.open.value, panel.selectedToolId.value]).toEqual([false, null])
    tools.value = [call('c')]
    await nextTick()

    expect(panel.open.value).toBe(true)
    scope.stop()
  })
})
