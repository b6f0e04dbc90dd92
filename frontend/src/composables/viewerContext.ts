import { inject } from 'vue'
import type { InjectionKey } from 'vue'

import { fetchFileBlob } from '@/api/files'

/**
 * Who is looking at a timeline, for the components that fetch more than the events hold:
 * the owner (files through their login, the live sandbox for shell and file snapshots), or
 * a shared page's visitor (files through the link only, never the sandbox).
 */
export interface ViewerContext {
  /** The bytes of a stored file the timeline references. */
  fetchFile: (fileId: string) => Promise<Blob>
  /** Whether the session's sandbox may be asked (live shell output, file reads, the live screen). */
  sandbox: boolean
}

export const VIEWER_CONTEXT: InjectionKey<ViewerContext> = Symbol('viewer-context')

const OWNER: ViewerContext = { fetchFile: fetchFileBlob, sandbox: true }

/** The context provided by an ancestor (a shared page), else the signed-in owner's. */
export function useViewerContext(): ViewerContext {
  return inject(VIEWER_CONTEXT, OWNER)
}
