/** Short, human labels for tool calls ("Running `ls -la`", "Reading main.py"). */
import type { ToolCall } from './timeline'

export type ToolIcon = 'terminal' | 'file' | 'globe' | 'search' | 'message' | 'tool'

export interface ToolLabel {
  icon: ToolIcon
  verb: string
  /** The object of the action (command, file name, host, query); may be empty. */
  target: string
  /** Whether `target` is code (shown monospace). */
  code: boolean
}

function str(args: Record<string, unknown>, ...keys: string[]): string {
  for (const key of keys) {
    const value = args[key]
    if (typeof value === 'string' && value.trim()) return value.trim()
  }
  return ''
}

export function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, '')
  return trimmed.slice(trimmed.lastIndexOf('/') + 1) || path
}

export function hostOf(url: string): string {
  try {
    return new URL(url).host.replace(/^www\./, '')
  } catch {
    return url
  }
}

function firstLine(text: string, max = 80): string {
  const line = text.split('\n', 1)[0] ?? ''
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}

function shellLabel(tool: ToolCall): ToolLabel {
  const command = firstLine(str(tool.args, 'command', 'input'))
  switch (tool.function) {
    case 'shell_exec':
      return { icon: 'terminal', verb: 'Running', target: command, code: true }
    case 'shell_write_to_process':
      return { icon: 'terminal', verb: 'Typing into', target: 'the terminal', code: false }
    case 'shell_view':
      return { icon: 'terminal', verb: 'Viewing', target: 'terminal output', code: false }
    case 'shell_wait':
      return { icon: 'terminal', verb: 'Waiting for', target: 'the command', code: false }
    case 'shell_kill_process':
      return { icon: 'terminal', verb: 'Stopping', target: 'the process', code: false }
    default:
      return { icon: 'terminal', verb: 'Using', target: 'the terminal', code: false }
  }
}

function fileLabel(tool: ToolCall): ToolLabel {
  const file = basename(str(tool.args, 'file', 'path'))
  switch (tool.function) {
    case 'file_read':
      return { icon: 'file', verb: 'Reading', target: file, code: false }
    case 'file_write':
      return { icon: 'file', verb: 'Writing', target: file, code: false }
    case 'file_str_replace':
      return { icon: 'file', verb: 'Editing', target: file, code: false }
    case 'file_find_in_content':
      return { icon: 'file', verb: 'Searching in', target: file, code: false }
    case 'file_find_by_name':
      return { icon: 'file', verb: 'Finding files in', target: str(tool.args, 'path') || file, code: false }
    default:
      return { icon: 'file', verb: 'Using', target: file || 'a file', code: false }
  }
}

function browserLabel(tool: ToolCall): ToolLabel {
  const url = str(tool.args, 'url')
  const contentUrl = typeof tool.content?.url === 'string' ? tool.content.url : ''
  switch (tool.function) {
    case 'browser_navigate':
      return { icon: 'globe', verb: 'Browsing', target: hostOf(url || contentUrl), code: false }
    case 'browser_view':
      return { icon: 'globe', verb: 'Viewing', target: contentUrl ? hostOf(contentUrl) : 'the page', code: false }
    case 'browser_click':
      return { icon: 'globe', verb: 'Clicking', target: 'on the page', code: false }
    case 'browser_input':
      return { icon: 'globe', verb: 'Typing', target: firstLine(str(tool.args, 'text'), 40), code: false }
    case 'browser_console_exec':
      return { icon: 'globe', verb: 'Running', target: firstLine(str(tool.args, 'javascript')), code: true }
    case 'browser_scroll_up':
    case 'browser_scroll_down':
      return { icon: 'globe', verb: 'Scrolling', target: 'the page', code: false }
    default:
      return { icon: 'globe', verb: 'Using', target: 'the browser', code: false }
  }
}

/** Verbs of finished calls ("Ran `ls`", "Read main.py"). */
const PAST: Record<string, string> = {
  Running: 'Ran',
  'Typing into': 'Typed into',
  Viewing: 'Viewed',
  'Waiting for': 'Waited for',
  Stopping: 'Stopped',
  Reading: 'Read',
  Writing: 'Wrote',
  Editing: 'Edited',
  'Searching in': 'Searched in',
  'Finding files in': 'Found files in',
  Browsing: 'Browsed',
  Clicking: 'Clicked',
  Typing: 'Typed',
  Scrolling: 'Scrolled',
  Searching: 'Searched',
  Messaging: 'Messaged',
  'Checking the time in': 'Checked the time in',
  Using: 'Used',
}

/**
 * The call's label: present tense while it runs ("Running ls"), past once done ("Ran ls");
 * `tense: 'present'` always gives the present (the computer panel's "Anker is using ...").
 */
export function toolLabel(tool: ToolCall, tense: 'auto' | 'present' = 'auto'): ToolLabel {
  const label = presentLabel(tool)
  if (tense === 'present' || tool.status === 'calling') return label
  return { ...label, verb: PAST[label.verb] ?? label.verb }
}

/** `mcp_<server>_<tool>`: "Using add (calc)" (a server's name has no underscore). */
function mcpLabel(tool: ToolCall): ToolLabel {
  const rest = tool.function.startsWith('mcp_') ? tool.function.slice(4) : ''
  const cut = rest.indexOf('_')
  if (cut <= 0) return { icon: 'tool', verb: 'Using', target: tool.function, code: true }
  return { icon: 'tool', verb: 'Using', target: `${rest.slice(cut + 1)} (${rest.slice(0, cut)})`, code: true }
}

function presentLabel(tool: ToolCall): ToolLabel {
  switch (tool.name) {
    case 'shell':
      return shellLabel(tool)
    case 'file':
      return fileLabel(tool)
    case 'browser':
      return browserLabel(tool)
    case 'search':
      return { icon: 'search', verb: 'Searching', target: str(tool.args, 'query'), code: false }
    case 'message':
      return { icon: 'message', verb: 'Messaging', target: 'you', code: false }
    case 'clock':
      return { icon: 'tool', verb: 'Checking the time in', target: str(tool.args, 'timezone') || 'UTC', code: false }
    case 'mcp':
      return mcpLabel(tool)
    default:
      return { icon: 'tool', verb: 'Using', target: tool.function, code: true }
  }
}

/** The label as one plain string (titles, aria labels). */
export function toolLabelText(tool: ToolCall): string {
  const label = toolLabel(tool)
  return label.target ? `${label.verb} ${label.target}` : label.verb
}
