import type { FileInfo } from '@/types/api'

/** Browser screenshots the agent took along the way are kept apart from the task's files. */
const SCREENSHOT = /^screenshot-call_[\w-]+\.(jpe?g|png)$/

export function isScreenshot(file: FileInfo): boolean {
  return SCREENSHOT.test(file.filename)
}

/** The task's own files, and the screenshots the browser tool saved, in the order given. */
export function splitScreenshots(files: FileInfo[]): { files: FileInfo[]; screenshots: FileInfo[] } {
  return { files: files.filter((file) => !isScreenshot(file)), screenshots: files.filter(isScreenshot) }
}
