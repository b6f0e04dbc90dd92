import type { Envelope, FileInfo } from '@/types/api'
import { API_PREFIX, ApiError, NetworkError, authorizedFetch, reportAuthLost } from './client'
import { csrfHeaders } from './tokens'

function xhrUpload(file: File, onProgress: (fraction: number) => void): Promise<XMLHttpRequest> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', `${API_PREFIX}/files`)
    for (const [name, value] of Object.entries(csrfHeaders('POST'))) xhr.setRequestHeader(name, value)
    xhr.setRequestHeader('Accept', 'application/json')
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total)
    }
    xhr.onload = () => resolve(xhr)
    xhr.onerror = () => reject(new NetworkError(`Cannot reach the Anker server at ${window.location.origin}`))
    xhr.onabort = () => reject(new DOMException('Upload cancelled', 'AbortError'))
    const form = new FormData()
    form.append('file', file)
    xhr.send(form)
  })
}

/**
 * Uploads one file with progress (XMLHttpRequest, since fetch has no upload progress).
 * A 401 signs the app out like every other call.
 */
export async function uploadFile(file: File, onProgress: (fraction: number) => void): Promise<FileInfo> {
  const xhr = await xhrUpload(file, onProgress)
  if (xhr.status === 401) {
    reportAuthLost()
    throw new ApiError(401, 401, 'Your session has expired. Sign in again.')
  }
  let body: Envelope<FileInfo> | null = null
  try {
    body = JSON.parse(xhr.responseText) as Envelope<FileInfo>
  } catch {
    body = null
  }
  if (!body || body.code !== 0 || xhr.status >= 400) {
    throw new ApiError(xhr.status, body?.code ?? xhr.status, body?.msg ?? `Upload failed (HTTP ${xhr.status})`)
  }
  onProgress(1)
  return body.data
}

/** The bytes of a stored file (screenshots, deliverables), fetched with the session cookie. */
export async function fetchFileBlob(fileId: string): Promise<Blob> {
  const response = await authorizedFetch(`/files/${encodeURIComponent(fileId)}/download`, {
    headers: { Accept: '*/*' },
  })
  if (!response.ok) {
    throw new ApiError(response.status, response.status, `Download failed (HTTP ${response.status})`)
  }
  return response.blob()
}

/** Downloads a file and hands it to the browser's save flow (`fetchFile`: how to get its bytes). */
export async function downloadFile(
  file: Pick<FileInfo, 'file_id' | 'filename'>,
  fetchFile: (fileId: string) => Promise<Blob> = fetchFileBlob,
): Promise<void> {
  const blob = await fetchFile(file.file_id)
  const url = URL.createObjectURL(blob)
  const link = document.createElement('a')
  link.href = url
  link.download = file.filename
  document.body.appendChild(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}
