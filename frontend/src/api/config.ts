import { apiRequest } from './client'

/** What the web app checks before it sends (GET /api/v1/config). */
export interface ClientConfig {
  max_message_chars: number
  max_upload_bytes: number
  /** Staff only: why no model answers; null when one is configured (and for everyone else). */
  model_problem: string | null
}

export function getClientConfig(): Promise<ClientConfig> {
  return apiRequest<ClientConfig>('/config')
}
