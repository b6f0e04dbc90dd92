// Generates src/types/events.ts from schema/events.json (written by the backend).
// `--check` regenerates in memory and fails when the checked-in file has drifted.
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { compile } from 'json-schema-to-typescript'

const root = fileURLToPath(new URL('..', import.meta.url))
const schemaPath = `${root}schema/events.json`
const outPath = `${root}src/types/events.ts`
const check = process.argv.includes('--check')

const schema = JSON.parse(await readFile(schemaPath, 'utf8'))
const banner = [
  '/* eslint-disable */',
  '/**',
  ' * GENERATED from schema/events.json by `npm run gen:types`. Do not edit by hand:',
  ' * the backend owns the event schema; regenerate after it changes.',
  ' */',
].join('\n')

const generated = await compile(schema, 'AnkerEvent', {
  bannerComment: banner,
  additionalProperties: false,
  unreachableDefinitions: true,
  strictIndexSignatures: true,
  style: { singleQuote: true, semi: false, printWidth: 100 },
})

if (check) {
  let current = ''
  try {
    current = await readFile(outPath, 'utf8')
  } catch {
    // A missing file is drift too.
  }
  if (current !== generated) {
    console.error('src/types/events.ts is out of date with schema/events.json: run `npm run gen:types`.')
    process.exit(1)
  }
  console.log('src/types/events.ts matches schema/events.json')
} else {
  await writeFile(outPath, generated)
  console.log(`wrote ${outPath}`)
}
