import { mount } from '@vue/test-utils'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { fakeApi, settle } from '@/__tests__/fake-api'
import SecretsPicker from '@/components/SecretsPicker.vue'

const STORED = [
  { name: 'GITHUB_TOKEN', created_at: '', updated_at: '' },
  { name: 'DB_PASSWORD', created_at: '', updated_at: '' },
]

describe('SecretsPicker', () => {
  beforeEach(() => localStorage.setItem('anker.signed_in', '1'))
  afterEach(() => vi.unstubAllGlobals())

  it('is not shown to a user without secrets', async () => {
    fakeApi({ 'GET /secrets': { data: [] }, 'GET /sessions/s1/secrets': { data: { names: [] } } })
    const wrapper = mount(SecretsPicker, { props: { sessionId: 's1' } })
    await settle()

    expect(wrapper.find('[data-testid="secrets-picker"]').exists()).toBe(false)
  })

  it("lists the user's secrets by name with the session's choice ticked, and saves a change", async () => {
    const { seen } = fakeApi({
      'GET /secrets': { data: STORED },
      'GET /sessions/s1/secrets': { data: { names: ['DB_PASSWORD'] } },
      'PUT /sessions/s1/secrets': { data: { names: ['DB_PASSWORD', 'GITHUB_TOKEN'] } },
    })
    const wrapper = mount(SecretsPicker, { props: { sessionId: 's1' } })
    await settle()
    expect(wrapper.get('[data-testid="secrets-summary"]').text()).toBe('Secrets (1)')
    const github = wrapper.get<HTMLInputElement>('[data-testid="secret-option-GITHUB_TOKEN"]')
    expect([github.element.checked, wrapper.get<HTMLInputElement>('[data-testid="secret-option-DB_PASSWORD"]').element.checked]).toEqual([false, true])

    await github.setValue(true)
    await settle()

    expect(seen.at(-1)).toMatchObject({ method: 'PUT', path: '/sessions/s1/secrets', body: { names: ['DB_PASSWORD', 'GITHUB_TOKEN'] } })
    expect(wrapper.get('[data-testid="secrets-summary"]').text()).toBe('Secrets (2)')
  })

  it('keeps the previous choice and says why when the server refuses it', async () => {
    fakeApi({
      'GET /secrets': { data: STORED },
      'GET /sessions/s1/secrets': { data: { names: [] } },
      'PUT /sessions/s1/secrets': { status: 422, msg: 'names: unknown secret GITHUB_TOKEN' },
    })
    const wrapper = mount(SecretsPicker, { props: { sessionId: 's1' } })
    await settle()

    await wrapper.get('[data-testid="secret-option-GITHUB_TOKEN"]').setValue(true)
    await settle()

    expect(wrapper.get('[data-testid="secrets-error"]').text()).toBe('names: unknown secret GITHUB_TOKEN')
    expect(wrapper.get('[data-testid="secrets-summary"]').text()).toBe('Secrets')
  })
})
