import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'

import WaitingBanner from '@/components/WaitingBanner.vue'

describe('WaitingBanner', () => {
  it('tells the user the agent waits for a reply', () => {
    const wrapper = mount(WaitingBanner)
    const banner = wrapper.get('[data-testid="waiting-banner"]')

    expect(banner.text()).toBe('Anker is waiting for your reply.')
    expect(banner.attributes('role')).toBe('status')
    expect(wrapper.find('[data-testid="waiting-take-over"]').exists()).toBe(false)
  })

  it('offers to take over the browser when the agent used it', async () => {
    const wrapper = mount(WaitingBanner, { props: { canTakeOver: true } })
    await wrapper.get('[data-testid="waiting-take-over"]').trigger('click')
    expect(wrapper.emitted('takeOver')).toEqual([[]])
  })
})
