// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'dist-bench/', 'dist-chaos/', 'node_modules/', 'data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      // Money is integer minor units: parseFloat has no place in this code base.
      'no-restricted-globals': ['error', { name: 'parseFloat', message: 'amounts are parsed exactly with books/parseDecimal' }],
      'no-restricted-properties': ['error', { object: 'Number', property: 'parseFloat', message: 'amounts are parsed exactly with books/parseDecimal' }],
    },
  },
);
