// Vite builds the web UI from ui/ into ui/dist, which the query service serves at / (query/ui.ts).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: import.meta.dirname,
  // Relative asset URLs: the app works wherever the query service mounts it.
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Hashed file names under assets/ let the server mark them immutable.
    assetsDir: 'assets',
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
