import type { FileInfo } from './api'

/** What the composer hands to its owner on send. */
export interface ComposerPayload {
  message: string
  attachments: FileInfo[]
}
