import { mount } from '@vue/test-utils'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { fakeApi, settle } from '@/__tests__/fake-api'
import FilesDialog from '@/components/chat/FilesDialog.vue'

function file(file_id: string, filename: string) {
  return { file_id, filename, size: 10, content_type: 'text/plain'}
}

describe('FilesDialog', () => {
  beforeEach(() => localStorage.setItem('anker.signed_in', '1'))
  afterEach(() => {
    vi.unstubAllGlobals()
    document.body.innerHTML = ''
  })

  it('reads the files when opened and folds the browser screenshots away', async () => {
    const { seen } = fakeApi({
      'GET /sessions/s1/files': {
        data: { files: [file('f1', 'report.md'), file('f2', 'screenshot-call_abc-1.jpg'), file('f3', 'data.csv')] },
      },
    })
    const wrapper = mount(FilesDialog, { props: { sessionId: 's1', open: false }, attachTo: document.body })
    expect(seen).toHaveLength(0)

    await wrapper.setProps({ open: true })
    await settle()

    const list = document.querySelector('[data-testid="files-list"]')!
    expect(list.textContent).toContain('report.md')
    expect(list.textContent).toContain('data.csv')
    expect(list.textContent).not.toContain('screenshot-call_abc-1.jpg')
    expect(document.querySelector('[data-testid="files-screenshots"] summary')!.textContent).toBe('Screenshots (1)')
    wrapper.unmount()
  })

  it('says so when there are no files, and shows the server sentence when the list cannot be read', async () => {
    fakeApi({ 'GET /sessions/s1/files': { data: { files: [] } }, 'GET /sessions/s2/files': { status: 404, msg: 'Session not found' } })
    const wrapper = mount(FilesDialog, { props: { sessionId: 's1', open: true }, attachTo: document.body })
    await settle()
    expect(document.querySelector('[data-testid="files-dialog"]')!.textContent).toContain('No files yet.')

    await wrapper.setProps({ open: false })
    await wrapper.setProps({ sessionId: 's2', open: true })
    await settle()

    expect(document.querySelector('[data-testid="files-dialog"]')!.textContent).toContain('Session not found')
    wrapper.unmount()
  })

  it('closes from its Close button', async () => {
    fakeApi({ 'GET /sessions/s1/files': { data: { files: [] } } })
    const wrapper = mount(FilesDialog, { props: { sessionId: 's1', open: true }, attachTo: document.body })
    await settle()

    const close = Array.from(document.querySelectorAll('button')).find((b) => b.textContent === 'Close')!
    close.click()

    expect(wrapper.emitted('close')).toHaveLength(1)
    wrapper.unmount()
  })
})
