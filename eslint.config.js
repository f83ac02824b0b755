// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  { files: ['**/*.{js,mjs,cjs}'], languageOptions: { globals: globals.node } },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-multiple-empty-lines': ['error', { max: 1 }],
    },
  },
  {
    // The launcher is CommonJS on purpose (it starts sooner); `import x = require()` is how
    // TypeScript spells a typed CommonJS import.
    files: ['src/cli.cts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tests read JSON documents of many shapes and match terminal escape sequences.
    files: ['test/**/*.ts', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', 'no-control-regex': 'off' },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/output.ts', 'src/sim/**'],
    rules: { 'no-console': 'error' },
  },
);
