// Lint: ESLint's and typescript-eslint's recommended rules over the TypeScript sources; formatting is
// prettier's (.prettierrc.json), so no style rule here.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'reports/', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `x = null` / `x = []` after the last use is how tests and fixtures drop references for the GC.
      'no-useless-assignment': 'off',
    },
  },
);
