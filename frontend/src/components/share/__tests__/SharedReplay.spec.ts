import { flushPromises, mount } from '@vue/test-utils'
import { afterEach, describe, expect, it, vi } from 'vitest'

import { assistantMessage, done, status, tool, userMessage } from '@/__tests__/events'
import SharedView from '@/views/SharedView.vue'
import type { SessionEvent } from '@/types/session-events'

const TOKEN = 'q3JYk0mXw9b1Rr7vZc2T8eLhNfQpA6sUuGdK4iWoE5y'
const T0 = 1_764_640_800

/** The recorded session: a question, a search 2 s later, the answer after a 40 s pause. */
function recorded(): SessionEvent[] {
  const at = (event: SessionEvent, seconds: number): SessionEvent => ({ ...event, timestamp: T0 + seconds })
  return [
    at(userMessage(1, 'Find the tide table'), 0),
    at(status(2, 'running'), 0),
    at(tool(3, 'call_1', 'calling', { name: 'search', function: 'info_search_web', args: { query: 'tides' } }), 2),
    at(
      tool(4, 'call_1', 'called', {
        name: 'search',
        function: 'info_search_web',
        args: { query: 'tides' },
        content: { query: 'tides', results: [] },
      }),
      2,
    ),
    at(assistantMessage(5, 'High tide is at 6:12.'), 42),
    at(status(6, 'completed'), 42),
    at(done(7), 42),
  ]
}

function urlOf(input: RequestInfo | URL): string {
  if (typeof input === 'string') return input
  return input instanceof URL ? input.href : input.url
}

function stubServer(events: SessionEvent[]) {
  const fetchMock = vi.fn((input: RequestInfo | URL) => {
    const url = urlOf(input)
    if (url === `/api/v1/shared/${TOKEN}`) {
      const data = {
        session: { title: 'Tides', mode: 'agent', status: 'completed', created_at: T0 },
        expires_at: null,
        events: events.map((data) => ({ event: data.type, data })),
      }
      return Promise.resolve(new Response(JSON.stringify({ code: 0, msg: 'success', data }), { status: 200 }))
    }
    return Promise.resolve(new Response(JSON.stringify({ code: 404, msg: 'Not found.', data: null }), { status: 404 }))
  })
  vi.stubGlobal('fetch', fetchMock)
  return fetchMock
}

async function mountShared() {
  const wrapper = mount(SharedView, { props: { token: TOKEN }, attachTo: document.body })
  await flushPromises()
  return wrapper
}

function shown(wrapper: Awaited<ReturnType<typeof mountShared>>): string[] {
  return wrapper.findAll('[data-testid="message-user"], [data-testid="message-assistant"], [data-testid="tool-row"]').map(
    (node) => node.attributes('data-testid') ?? '',
  )
}

describe('SharedView replay', () => {
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  it('opens on the whole timeline, read from the link only', async () => {
    const fetchMock = stubServer(recorded())

    const wrapper = await mountShared()

    expect(wrapper.get('[data-testid="chat-title"]').text()).toBe('Tides')
    expect(shown(wrapper)).toEqual(['message-user', 'tool-row', 'message-assistant'])
    expect(wrapper.get('[data-testid="replay-position"]').text()).toBe('7/7')
    expect(wrapper.get('[data-testid="replay-time"]').text()).toBe('0:42 / 0:42')
    expect(wrapper.find('[data-testid="composer-input"]').exists()).toBe(false)
    expect(fetchMock.mock.calls.map(([input]) => urlOf(input))).toEqual([`/api/v1/shared/${TOKEN}`])
    wrapper.unmount()
  })

  it('replays at the recorded pace, a long pause cut to 3 s, faster at a higher speed', async () => {
    stubServer(recorded())
    const wrapper = await mountShared()
    vi.useFakeTimers()

    await wrapper.get('[data-testid="replay-play"]').trigger('click')
    expect(shown(wrapper)).toEqual([])
    await vi.advanceTimersByTimeAsync(0) // the first event comes at once
    expect(shown(wrapper)).toEqual(['message-user'])
    await vi.advanceTimersByTimeAsync(120) // the status recorded in the same second
    await vi.advanceTimersByTimeAsync(1_800)
    expect(shown(wrapper)).toEqual(['message-user']) // the search started 2 s later
    await vi.advanceTimersByTimeAsync(200)
    expect(shown(wrapper)).toEqual(['message-user', 'tool-row'])
    await vi.advanceTimersByTimeAsync(120) // its result, same second

    // The answer came 40 s later; replayed after 3 s, and at 2x after 1.5 s.
    await wrapper.get('[data-testid="replay-speed"]').setValue('2')
    await vi.advanceTimersByTimeAsync(1_400)
    expect(shown(wrapper)).toEqual(['message-user', 'tool-row'])
    await vi.advanceTimersByTimeAsync(100)
    expect(shown(wrapper)).toEqual(['message-user', 'tool-row', 'message-assistant'])
    await vi.advanceTimersByTimeAsync(1_000)
    expect(wrapper.get('[data-testid="replay-position"]').text()).toBe('7/7')
    expect(wrapper.find('[data-testid="replay-play"]').text()).toContain('Replay')
    wrapper.unmount()
  })

  it('steps forward and back one visible change at a time, and pauses a replay', async () => {
    stubServer(recorded())
    const wrapper = await mountShared()

    await wrapper.get('[data-testid="replay-restart"]').trigger('click')
    expect(shown(wrapper)).toEqual([])
    await wrapper.get('[data-testid="replay-next"]').trigger('click')
    expect(shown(wrapper)).toEqual(['message-user'])
    await wrapper.get('[data-testid="replay-next"]').trigger('click') // past the quiet status event
    expect(shown(wrapper)).toEqual(['message-user', 'tool-row'])
    expect(wrapper.get('[data-testid="replay-position"]').text()).toBe('3/7')
    await wrapper.get('[data-testid="replay-previous"]').trigger('click')
    expect(shown(wrapper)).toEqual(['message-user'])
    expect(wrapper.get('[data-testid="replay-position"]').text()).toBe('1/7')

    vi.useFakeTimers()
    await wrapper.get('[data-testid="replay-play"]').trigger('click')
    await wrapper.get('[data-testid="replay-pause"]').trigger('click')
    await vi.advanceTimersByTimeAsync(60_000)
    expect(wrapper.get('[data-testid="replay-position"]').text()).toBe('1/7')
    await wrapper.get('[data-testid="replay-show-all"]').trigger('click')
    expect(shown(wrapper)).toEqual(['message-user', 'tool-row', 'message-assistant'])
    wrapper.unmount()
  })

  it('says so when the link does not work', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(() =>
        Promise.resolve(
          new Response(JSON.stringify({ code: 404, msg: 'Share link not found', data: null }), { status: 404 }),
        ),
      ),
    )

    const wrapper = await mountShared()

    expect(wrapper.get('[data-testid="share-not-found"]').text()).toContain('This link does not work')
    expect(wrapper.find('[data-testid="replay-controls"]').exists()).toBe(false)
    wrapper.unmount()
  })
})
