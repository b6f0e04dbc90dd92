import { describe, expect, it } from 'vitest'

import { markdownPreview } from '@/lib/plain-text'

describe('markdownPreview', () => {
  it('shows the words of a Markdown answer without its marks', () => {
    const source = '## Done\n\nPython works (`2**10` = **1024**), see [the report](https://x.test/r).\n\n- one\n- _two_'
    expect(markdownPreview(source)).toBe('Done Python works (2**10 = 1024), see the report. one two')
  })

  it('keeps code from a fence and plain text as it is', () => {
    expect(markdownPreview('```python\nprint(1)\n```')).toBe('print(1)')
    expect(markdownPreview('3 * 4 = 12, snake_case stays')).toBe('3 * 4 = 12, snake_case stays')
  })
})
