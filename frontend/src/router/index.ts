import { createRouter, createWebHistory } from 'vue-router'
import type { Router } from 'vue-router'

import { useAuthStore } from '@/stores/auth'

declare module 'vue-router' {
  interface RouteMeta {
    /** Reachable without signing in. */
    public?: boolean
  }
}

export function createAppRouter(): Router {
  const router = createRouter({
    history: createWebHistory('/'),
    routes: [
      {
        path: '/login',
        name: 'login',
        component: () => import('@/views/LoginView.vue'),
        meta: { public: true },
      },
      {
        // A shared session: read-only, for anyone with the link (no login, no sidebar).
        path: '/share/:token',
        name: 'shared',
        component: () => import('@/views/SharedView.vue'),
        props: true,
        meta: { public: true },
      },
      {
        path: '/',
        component: () => import('@/layouts/AppLayout.vue'),
        children: [
          { path: '', name: 'home', component: () => import('@/views/HomeView.vue') },
          { path: 'settings/tools', name: 'tools', component: () => import('@/views/ToolsSettingsView.vue') },
          {
            path: 'chat/:sessionId',
            name: 'chat',
            component: () => import('@/views/ChatView.vue'),
            props: true,
          },
          { path: 'schedules', name: 'schedules', component: () => import('@/views/SchedulesView.vue') },
        ],
      },
      { path: '/:pathMatch(.*)*', redirect: '/' },
    ],
  })

  router.beforeEach((to) => {
    const auth = useAuthStore()
    if (!to.meta.public && !auth.isAuthenticated) {
      return { name: 'login', query: to.fullPath !== '/' ? { next: to.fullPath } : {} }
    }
    if (to.name === 'login' && auth.isAuthenticated) return { name: 'home' }
    return true
  })

  return router
}
