import type { LoginResult, User } from '@/types/api'
import { apiRequest } from './client'

export function login(username: string, password: string): Promise<LoginResult> {
  return apiRequest<LoginResult>('/auth/login', {
    method: 'POST',
    body: { username, password },
    auth: false,
  })
}

export function fetchMe(): Promise<User> {
  return apiRequest<User>('/auth/me')
}

export function logout(): Promise<null> {
  return apiRequest<null>('/auth/logout', { method: 'POST' })
}
