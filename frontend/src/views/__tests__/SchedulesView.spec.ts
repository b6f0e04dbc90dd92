import { flushPromises, mount } from '@vue/test-utils'
import { createPinia } from 'pinia'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'

import SchedulesView from '@/views/SchedulesView.vue'
import type { Schedule, ScheduleRun } from '@/types/schedules'

const SCHEDULE: Schedule = {
  schedule_id: '7d0c3a52-3f7e-4f55-9d6f-0a6c2b6c1a01',
  name: 'Morning digest',
  cron: '0 7 * * MON-FRI',
  timezone: 'Europe/Berlin',
  start_at: null,
  end_at: null,
  enabled: true,
  overlap_policy: 'skip',
  job: { prompt: 'Summarise the tickets', mode: 'lite' },
  next_run_at: '2026-12-02T06:00:00Z',
  last_run_at: null,
  created_at: '2026-12-01T10:00:00Z',
  updated_at: '2026-12-01T10:00:00Z',
}

const RUN: ScheduleRun = {
  run_id: '0b7d3d5e-8a0f-4b67-9f4f-0e1f6d7c2b11',
  fire_at: '2026-12-01T10:05:00Z',
  manual: true,
  outcome: 'started',
  missed_count: 0,
  error: null,
  job_id: '1c1e0f38-5b0e-4a0c-8f5b-2d3b9a7e6c22',
  job_status: 'queued',
  session_id: 'abcdef0123456789',
  created_at: '2026-12-01T10:05:00Z',
}

interface Call {
  method: string
  url: string
  body: unknown
}

/** A fake server for /api/v1/schedules: answers by method and path, records every call. */
function serve(routes: Record<string, (call: Call) => [number, unknown]>) {
  const calls: Call[] = []
  const fetchMock = vi.fn((input: string, init: RequestInit = {}) => {
    const method = init.method ?? 'GET'
    const call: Call = { method, url: input, body: typeof init.body === 'string' ? (JSON.parse(init.body) as unknown) : null }
    calls.push(call)
    const path = input.replace('/api/v1', '').split('?')[0]
    const handler = routes[`${method} ${path}`]
    const [status, data] = handler ? handler(call) : [404, null]
    const envelope = status < 300 ? { code: 0, msg: 'ok', data } : { code: status, msg: String(data), data: null }
    return Promise.resolve(new Response(JSON.stringify(envelope), { status }))
  })
  vi.stubGlobal('fetch', fetchMock)
  return calls
}

async function mountView() {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/schedules', name: 'schedules', component: SchedulesView },
      { path: '/chat/:sessionId', name: 'chat', component: { template: '<p>chat</p>' } },
    ],
  })
  await router.push('/schedules')
  const wrapper = mount(SchedulesView, { global: { plugins: [createPinia(), router] } })
  await flushPromises()
  return wrapper
}

describe('SchedulesView', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
  })

  it('lists the schedules with their cron, timezone and next run', async () => {
    serve({ 'GET /schedules': () => [200, { schedules: [SCHEDULE], count: 1 }] })
    const wrapper = await mountView()

    const items = wrapper.findAll('[data-testid="schedule-item"]')
    expect(items).toHaveLength(1)
    const item = items[0]!
    expect(item.get('[data-testid="schedule-item-name"]').text()).toBe('Morning digest')
    expect(item.text()).toContain('0 7 * * MON-FRI')
    expect(item.text()).toContain('Europe/Berlin')
    const expected = new Date('2026-12-02T06:00:00Z').toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
    expect(item.get('[data-testid="schedule-next-run"]').text()).toBe(`Next run: ${expected}`)
  })

  it('creates a schedule from the form and sends exactly what was typed', async () => {
    const calls = serve({
      'GET /schedules': () => [200, { schedules: [], count: 0 }],
      'POST /schedules': (call) => [201, { ...SCHEDULE, ...(call.body as object) }],
    })
    const wrapper = await mountView()
    expect(wrapper.get('[data-testid="schedules-empty"]').text()).toBe('No schedules yet.')

    await wrapper.get('[data-testid="schedule-new"]').trigger('click')
    await wrapper.get('[data-testid="schedule-name"]').setValue('Nightly check')
    await wrapper.get('[data-testid="schedule-cron"]').setValue('30 2 * * *')
    await wrapper.get('[data-testid="schedule-timezone"]').setValue('Asia/Tokyo')
    await wrapper.get('[data-testid="schedule-prompt"]').setValue('Check the site is up')
    await wrapper.get('[data-testid="schedule-mode"]').setValue('lite')
    await wrapper.get('[data-testid="schedule-overlap"]').setValue('enqueue')
    await wrapper.get('[data-testid="schedule-form"]').trigger('submit')
    await flushPromises()

    const post = calls.find((c) => c.method === 'POST')
    expect(post?.body).toEqual({
      name: 'Nightly check',
      cron: '30 2 * * *',
      timezone: 'Asia/Tokyo',
      enabled: true,
      overlap_policy: 'enqueue',
      job: { prompt: 'Check the site is up', mode: 'lite' },
    })
    expect(wrapper.find('[data-testid="schedule-form"]').exists()).toBe(false)
    expect(wrapper.findAll('[data-testid="schedule-item-name"]').map((n) => n.text())).toEqual(['Nightly check'])
  })

  it('keeps the form open and shows the server reason when the cron is refused', async () => {
    serve({
      'GET /schedules': () => [200, { schedules: [], count: 0 }],
      'POST /schedules': () => [422, 'cron: expected five fields'],
    })
    const wrapper = await mountView()
    await wrapper.get('[data-testid="schedule-new"]').trigger('click')
    await wrapper.get('[data-testid="schedule-cron"]').setValue('every day')
    await wrapper.get('[data-testid="schedule-prompt"]').setValue('x')
    await wrapper.get('[data-testid="schedule-form"]').trigger('submit')
    await flushPromises()

    expect(wrapper.get('[data-testid="schedule-form-error"]').text()).toBe('cron: expected five fields')
    expect(wrapper.find('[data-testid="schedule-form"]').exists()).toBe(true)
    expect(wrapper.findAll('[data-testid="schedule-item"]')).toHaveLength(0)
  })

  it('pauses a schedule with a PATCH of enabled only and shows it paused', async () => {
    const calls = serve({
      'GET /schedules': () => [200, { schedules: [SCHEDULE], count: 1 }],
      [`PATCH /schedules/${SCHEDULE.schedule_id}`]: () => [200, { ...SCHEDULE, enabled: false, next_run_at: null }],
    })
    const wrapper = await mountView()
    await wrapper.get('[data-testid="schedule-toggle"]').trigger('change')
    await flushPromises()

    expect(calls.find((c) => c.method === 'PATCH')?.body).toEqual({ enabled: false })
    expect(wrapper.get('[data-testid="schedule-next-run"]').text()).toBe('Next run: paused')
  })

  it('runs a schedule now and shows the run with a link to its session', async () => {
    serve({
      'GET /schedules': () => [200, { schedules: [SCHEDULE], count: 1 }],
      [`POST /schedules/${SCHEDULE.schedule_id}/run`]: () => [201, RUN],
      [`GET /schedules/${SCHEDULE.schedule_id}/runs`]: () => [200, { runs: [RUN], count: 1 }],
    })
    const wrapper = await mountView()
    await wrapper.get('[data-testid="schedule-run-now"]').trigger('click')
    await flushPromises()

    const rows = wrapper.findAll('[data-testid="schedule-run"]')
    expect(rows).toHaveLength(1)
    const row = rows[0]!
    expect(row.get('[data-testid="schedule-run-outcome"]').text()).toBe('Started')
    expect(row.get('[data-testid="schedule-run-session"]').attributes('href')).toBe('/chat/abcdef0123456789')
  })

  it('shows why a run-now was refused and adds no run', async () => {
    serve({
      'GET /schedules': () => [200, { schedules: [SCHEDULE], count: 1 }],
      [`POST /schedules/${SCHEDULE.schedule_id}/run`]: () => [404, 'Not found.'],
    })
    const wrapper = await mountView()
    await wrapper.get('[data-testid="schedule-run-now"]').trigger('click')
    await flushPromises()

    expect(wrapper.get('[data-testid="schedule-row-error"]').text()).toBe('Not found.')
    expect(wrapper.find('[data-testid="schedule-runs"]').exists()).toBe(false)
  })
})
