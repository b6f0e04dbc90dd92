/**
 * A one-line plain-text preview of Markdown (the session list's latest message): the words a
 * reader sees, without the marks that make them bold, headed, linked or fenced.
 */
function inlineMarks(text: string): string {
  return text
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1') // images → alt text
    .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1') // links → their text
    .replace(/(\*\*|__|~~)(\S(?:.*?\S)?)\1/g, '$2') // bold, strike-through
    .replace(/(^|[^\w*])[*_](\S(?:.*?\S)?)[*_](?=[^\w*]|$)/g, '$1$2') // emphasis
}

export function markdownPreview(source: string): string {
  const blocks = source
    .replace(/```[^\n]*\n?/g, '\n') // code fences (their content stays)
    .replace(/^\s{0,3}(#{1,6}|>|[-*+]|\d+[.)])\s+/gm, '') // headings, quotes, list markers
  // Inline code is shown as written: only the text between code spans loses its marks.
  return blocks
    .split('`')
    .map((part, index) => (index % 2 === 1 ? part : inlineMarks(part)))
    .join('')
    .replace(/\s+/g, ' ')
    .trim()
}
