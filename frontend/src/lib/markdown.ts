/** Markdown → sanitized HTML for assistant messages (marked, then DOMPurify). */
import DOMPurify from 'dompurify'
import { Marked } from 'marked'

import { highlightCode } from './highlight'

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    code({ text, lang }) {
      const language = (lang ?? '').split(/\s+/, 1)[0] ?? ''
      const html = highlightCode(text, language || null)
      const cls = language ? ` class="hljs language-${language.replace(/[^\w-]/g, '')}"` : ' class="hljs"'
      return `<pre><code${cls}>${html}</code></pre>\n`
    },
  },
})

let hooked = false

function ensureLinkHook(): void {
  if (hooked) return
  hooked = true
  // Links in agent output open in a new tab and never get the opener.
  DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A' && node.getAttribute('href')) {
      node.setAttribute('target', '_blank')
      node.setAttribute('rel', 'noopener noreferrer')
    }
  })
}

export function renderMarkdown(source: string): string {
  ensureLinkHook()
  const html = marked.parse(source, { async: false })
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true } })
}
