import pluginVue from 'eslint-plugin-vue'
import { defineConfigWithVueTs, vueTsConfigs } from '@vue/eslint-config-typescript'

export default defineConfigWithVueTs(
  {
    name: 'anker/files',
    files: ['**/*.{ts,mts,tsx,vue}'],
  },
  {
    name: 'anker/ignores',
    // events.ts is generated from the backend's schema; dist is build output.
    ignores: ['dist/**', 'coverage/**', 'node_modules/**', 'src/types/events.ts'],
  },
  pluginVue.configs['flat/recommended'],
  vueTsConfigs.recommendedTypeChecked,
  {
    name: 'anker/rules',
    rules: {
      'vue/multi-word-component-names': 'error',
      'vue/block-lang': ['error', { script: { lang: 'ts' } }],
      'vue/component-api-style': ['error', ['script-setup']],
      'vue/define-props-declaration': ['error', 'type-based'],
      'vue/define-emits-declaration': ['error', 'type-based'],
      'vue/no-v-html': 'off', // only sanitized Markdown / highlighted code is rendered as HTML
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
    },
  },
  {
    name: 'anker/tests',
    files: ['src/**/__tests__/**'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
    },
  },
)
