import { flushPromises, mount } from '@vue/test-utils'
import { describe, expect, it, vi } from 'vitest'

import { uploadFile } from '@/api/files'
import ChatComposer from '@/components/ChatComposer.vue'
import type { ComposerPayload } from '@/types/ui'

vi.mock('@/api/files', () => ({ uploadFile: vi.fn() }))

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

  it('counts characters near the limit and refuses an over-long message with a sentence', async () => {
    const { wrapper, send } = mountComposer({ maxChars: 100 })
    const textarea = wrapper.get('[data-testid="composer-input"]')

    await textarea.setValue('x'.repeat(80))
    expect(wrapper.find('[data-testid="composer-count"]').exists()).toBe(false)

    await textarea.setValue('x'.repeat(95))
    expect(wrapper.get('[data-testid="composer-count"]').text()).toBe('95 / 100')
    expect(wrapper.find('[data-testid="composer-too-long"]').exists()).toBe(false)

    await textarea.setValue('x'.repeat(1234))
    expect(wrapper.get('[data-testid="composer-count"]').text()).toBe('1,234 / 100')
    expect(wrapper.get('[data-testid="composer-too-long"]').text()).toBe(
      'This message is 1,134 characters over the limit of 100. Shorten it, or attach the text as a file.',
    )
    expect(wrapper.get('[data-testid="send"]').attributes('disabled')).toBeDefined()
    await textarea.trigger('keydown', { key: 'Enter' })
    await flushPromises()
    expect(send).not.toHaveBeenCalled()
  })

  it('refuses a file over the upload limit before sending any of it, saying the limit in MB', async () => {
    const { wrapper } = mountComposer({ maxUploadBytes: 50 * 1024 * 1024 })
    const big = new File(['x'], 'video.mp4')
    Object.defineProperty(big, 'size', { value: 60 * 1024 * 1024 })
    const input = wrapper.get<HTMLInputElement>('input[type="file"]')
    Object.defineProperty(input.element, 'files', { value: [big], configurable: true })

    await input.trigger('change')
    await flushPromises()

    expect(uploadFile).not.toHaveBeenCalled()
    expect(wrapper.get('[data-testid="composer-attachment"]').text()).toContain(
      'Too large to attach: 60 MB; files can be at most 50 MB.',
    )
    expect(wrapper.get('[data-testid="composer-attach"]').attributes('aria-label')).toBe(
      'Attach files (up to 50 MB each)',
    )
  })
})
