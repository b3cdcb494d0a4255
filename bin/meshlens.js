#!/usr/bin/env -S node --max-semi-space-size=64
// Runs the TypeScript CLI directly (tsx compiles on load); no build step between edit and run.
// --max-semi-space-size=64 (also in package.json's start and demo): a young generation large enough for one
// service-graph answer (~20 MB allocated for a 5,000-edge graph), so it is seldom scavenged mid-request; with
// V8's default of 16 MB every such request paid a ~8 ms scavenge (docs/performance.md).
import { register } from 'tsx/esm/api';

register();
await import('./meshlens.ts');
