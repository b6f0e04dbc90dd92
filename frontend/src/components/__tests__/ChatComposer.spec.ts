import { flushPromises, mount } from '@vue/test-utils'
import { describe, expect, it, vi } from 'vitest'

import ChatComposer from '@/components/ChatComposer.vue'
import type { ComposerPayload } from '@/types/ui'

function mountComposer(props: Partial<InstanceType<typeof ChatComposer>['$props']> = {}) {
  const send = vi.fn((payload: ComposerPayload) => Promise.resolve(payload.message !== 'fail'))
  const wrapper = mount(ChatComposer, { props: { send, ...props } })
  return { wrapper, send }
}

describe('ChatComposer', () => {
  it('sends the trimmed text on Enter and clears itself', async () => {
    const { wrapper, send } = mountComposer()
    const textarea = wrapper.get<HTMLTextAreaElement>('[data-testid="composer-input"]')

    await textarea.setValue('  list the files  ')
    await textarea.trigger('keydown', { key: 'Enter' })
    await flushPromises()

    expect(send).toHaveBeenCalledTimes(1)
    expect(send).toHaveBeenCalledWith({ message: 'list the files', attachments: [] })
    expect(textarea.element.value).toBe('')
  })

  it('does not send on Shift+Enter (the newline is left to the textarea)', async () => {
    const { wrapper, send } = mountComposer()
    const textarea = wrapper.get('[data-testid="composer-input"]')
    await textarea.setValue('first line')

    const event = new KeyboardEvent('keydown', { key: 'Enter', shiftKey: true, cancelable: true })
    textarea.element.dispatchEvent(event)
    await flushPromises()

    expect(send).not.toHaveBeenCalled()
    expect(event.defaultPrevented).toBe(false)
  })

  it('does not send while an IME composition is in progress', async () => {
    const { wrapper, send } = mountComposer()
    const textarea = wrapper.get('[data-testid="composer-input"]')
    await textarea.setValue('にほん')

    await textarea.trigger('keydown', { key: 'Enter', isComposing: true })
    await flushPromises()

    expect(send).not.toHaveBeenCalled()
  })

  it('keeps the text when sending fails', async () => {
    const { wrapper, send } = mountComposer()
    const textarea = wrapper.get<HTMLTextAreaElement>('[data-testid="composer-input"]')
    await textarea.setValue('fail')

    await wrapper.get('[data-testid="composer"]').trigger('submit')
    await flushPromises()

    expect(send).toHaveBeenCalledTimes(1)
    expect(textarea.element.value).toBe('fail')
  })

  it('ignores Enter on empty text and disables Send', async () => {
    const { wrapper, send } = mountComposer()
    await wrapper.get('[data-testid="composer-input"]').trigger('keydown', { key: 'Enter' })

    expect(send).not.toHaveBeenCalled()
    expect(wrapper.get('[data-testid="send"]').attributes('disabled')).toBe('')
  })

  it('shows Stop instead of Send while the agent runs, and emits stop', async () => {
    const { wrapper, send } = mountComposer({ running: true })
    await wrapper.get('[data-testid="composer-input"]').setValue('more')
    await wrapper.get('[data-testid="composer-input"]').trigger('keydown', { key: 'Enter' })

    expect(wrapper.find('[data-testid="send"]').exists()).toBe(false)
    await wrapper.get('[data-testid="stop"]').trigger('click')
    expect(wrapper.emitted('stop')).toEqual([[]])
    expect(send).not.toHaveBeenCalled()
  })
})
