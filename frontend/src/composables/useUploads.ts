import { computed, ref } from 'vue'

import { errorMessage } from '@/api/client'
import { uploadFile } from '@/api/files'
import type { FileInfo } from '@/types/api'

export interface Upload {
  localId: number
  name: string
  size: number
  /** 0..1 */
  progress: number
  status: 'uploading' | 'done' | 'error'
  error: string | null
  info: FileInfo | null
}

let nextId = 1

/** A size limit as people read it: "50 MB". */
export function megabytes(bytes: number): string {
  const mb = bytes / (1024 * 1024)
  return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`
}

/**
 * Attachments being uploaded for the next message, with progress. A file over `maxBytes()` is
 * refused before a byte is sent.
 */
export function useUploads(maxBytes: () => number = () => Infinity) {
  const uploads = ref<Upload[]>([])

  const busy = computed(() => uploads.value.some((u) => u.status === 'uploading'))
  const files = computed(() =>
    uploads.value.flatMap((u) => (u.status === 'done' && u.info ? [u.info] : [])),
  )

  function find(localId: number): Upload | undefined {
    return uploads.value.find((u) => u.localId === localId)
  }

  async function uploadOne(file: File): Promise<void> {
    const localId = nextId++
    const limit = maxBytes()
    if (file.size > limit) {
      uploads.value.push({
        localId,
        name: file.name,
        size: file.size,
        progress: 0,
        status: 'error',
        error: `Too large to attach: ${megabytes(file.size)}; files can be at most ${megabytes(limit)}.`,
        info: null,
      })
      return
    }
    uploads.value.push({
      localId,
      name: file.name,
      size: file.size,
      progress: 0,
      status: 'uploading',
      error: null,
      info: null,
    })
    try {
      const info = await uploadFile(file, (fraction) => {
        const upload = find(localId)
        if (upload) upload.progress = fraction
      })
      const upload = find(localId)
      if (upload) {
        upload.info = info
        upload.progress = 1
        upload.status = 'done'
      }
    } catch (err) {
      const upload = find(localId)
      if (upload) {
        upload.status = 'error'
        upload.error = errorMessage(err)
      }
    }
  }

  function add(list: Iterable<File>): void {
    for (const file of list) void uploadOne(file)
  }

  function remove(localId: number): void {
    uploads.value = uploads.value.filter((u) => u.localId !== localId)
  }

  function clear(): void {
    uploads.value = []
  }

  return { uploads, busy, files, add, remove, clear }
}
