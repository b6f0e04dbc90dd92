import { createPinia } from 'pinia'
import { createApp } from 'vue'

import App from './App.vue'
import { onAuthLost } from './api/client'
import { createAppRouter } from './router'
import { useAuthStore } from './stores/auth'
import { useSessionsStore } from './stores/sessions'
import './styles/main.css'

const app = createApp(App)
const pinia = createPinia()
app.use(pinia)
const router = createAppRouter()
app.use(router)

// A refresh that failed (or a 4001 socket close it could not fix) signs the user out.
onAuthLost(() => {
  useAuthStore(pinia).forget()
  useSessionsStore(pinia).reset()
  const current = router.currentRoute.value
  if (current.name !== 'login') {
    void router.replace({ name: 'login', query: current.fullPath !== '/' ? { next: current.fullPath } : {} })
  }
})

app.mount('#app')
