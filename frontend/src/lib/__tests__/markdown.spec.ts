import { describe, expect, it } from 'vitest'

import { renderMarkdown } from '@/lib/markdown'

describe('renderMarkdown', () => {
  it('renders Markdown and strips scripts and event handlers', () => {
    const html = renderMarkdown('**bold** <img src="x" onerror="alert(1)"><script>alert(2)</script>')

    expect(html).toBe('<p><strong>bold</strong> <img src="x"></p>\n')
  })

  it('opens links in a new tab without the opener and drops javascript: URLs', () => {
    expect(renderMarkdown('[docs](https://example.com)')).toBe(
      '<p><a href="https://example.com" target="_blank" rel="noopener noreferrer">docs</a></p>\n',
    )
    expect(renderMarkdown('[x](javascript:alert(1))')).toBe('<p><a>x</a></p>\n')
  })

  it('highlights fenced code by language', () => {
    const html = renderMarkdown('```python\nimport os\n```')
    expect(html).toBe('<pre><code class="hljs language-python"><span class="hljs-keyword">import</span> os</code></pre>\n')
  })
})
