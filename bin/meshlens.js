#!/usr/bin/env node
// Runs the TypeScript CLI directly (tsx compiles on load); no build step between edit and run.
import { register } from 'tsx/esm/api';

register();
await import('./meshlens.ts');
