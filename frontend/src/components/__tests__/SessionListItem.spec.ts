import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'

import SessionListItem from '@/components/SessionListItem.vue'
import type { SessionItem } from '@/types/api'

function item(origin: SessionItem['origin']): SessionItem {
  return {
    session_id: 'abc123',
    title: 'Summarise invoice 2291',
    latest_message: 'Done',
    latest_message_at: null,
    status: 'completed',
    unread_message_count: 0,
    mode: 'agent',
    origin,
  }
}

function render(origin: SessionItem['origin']) {
  return mount(SessionListItem, {
    props: { session: item(origin), active: false, now: 0 },
    global: { stubs: { RouterLink: { template: '<a><slot /></a>' } } },
  })
}

describe('SessionListItem', () => {
  it('marks the session of a job one of the user\'s API keys submitted', () => {
    const badge = render('job').find('[data-testid="session-origin-job"]')

    expect(badge.exists()).toBe(true)
    expect(badge.text()).toBe('API')
    expect(badge.attributes('title')).toBe('Submitted by one of your API keys')
  })

  it('leaves the user\'s own chats unmarked', () => {
    expect(render('chat').find('[data-testid="session-origin-job"]').exists()).toBe(false)
  })
})
