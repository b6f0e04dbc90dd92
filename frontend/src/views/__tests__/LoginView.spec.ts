import { flushPromises, mount } from '@vue/test-utils'
import { createPinia } from 'pinia'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'

import LoginView from '@/views/LoginView.vue'

async function mountLogin() {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/login', name: 'login', component: LoginView },
      { path: '/', name: 'home', component: { template: '<p>home</p>' } },
    ],
  })
  await router.push('/login')
  const wrapper = mount(LoginView, { global: { plugins: [createPinia(), router] } })
  await flushPromises()
  return { wrapper, router }
}

describe('LoginView', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
    localStorage.clear()
  })

  it('says the server cannot be reached when the health check fails at network level', async () => {
    vi.stubGlobal('fetch', vi.fn(() => Promise.reject(new TypeError('Failed to fetch'))))
    const { wrapper } = await mountLogin()

    const notice = wrapper.get('[data-testid="server-unreachable"]')
    expect(notice.get('strong').text()).toBe('Cannot reach the Anker server at http://localhost:3000.')
  })

  it('treats a non-Anker answer (a static server 404) as unreachable', async () => {
    vi.stubGlobal('fetch', vi.fn(() => Promise.resolve(new Response('<h1>404</h1>', { status: 404 }))))
    const { wrapper } = await mountLogin()

    expect(wrapper.get('[data-testid="server-unreachable"] .notice-detail').text()).toBe(
      'Check that the backend is running and that this page is served by it (HTTP 404 from /api/v1/health).',
    )
  })

  it('lists unhealthy services from a 503 health report', async () => {
    const body = { code: 503, msg: 'Service unavailable', data: { database: 'ok', redis: 'ok', mongo: 'ok', worker: 'no worker answered' } }
    vi.stubGlobal('fetch', vi.fn(() => Promise.resolve(new Response(JSON.stringify(body), { status: 503 }))))
    const { wrapper } = await mountLogin()

    expect(wrapper.findAll('[data-testid="server-degraded"] li').map((li) => li.text())).toEqual(['worker: no worker answered'])
  })

  it('signs in and goes home', async () => {
    const user = { id: 1, username: 'ada', email: '', is_staff: false }
    const fetchMock = vi.fn((input: string) => {
      const url = input
      const data =
        url.endsWith('/health')
          ? { database: 'ok', redis: 'ok', mongo: 'ok', worker: 'ok' }
          : { access_token: 'A', refresh_token: 'R', token_type: 'bearer', user }
      return Promise.resolve(new Response(JSON.stringify({ code: 0, msg: 'success', data }), { status: 200 }))
    })
    vi.stubGlobal('fetch', fetchMock)
    const { wrapper, router } = await mountLogin()

    await wrapper.get('[data-testid="login-username"]').setValue('ada')
    await wrapper.get('[data-testid="login-password"]').setValue('pw')
    await wrapper.get('[data-testid="login-form"]').trigger('submit')
    await flushPromises()

    expect(router.currentRoute.value.fullPath).toBe('/')
    expect(localStorage.getItem('anker.access_token')).toBeNull()
    expect(localStorage.getItem('anker.signed_in')).toBe('1')
  })
})
