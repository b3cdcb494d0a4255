// Seeded pseudo-random numbers for tests and benchmarks: every run draws the same inputs, and a failing case
// can be replayed from its seed. The generator is the demo's (bin/demo.ts), which draws its traffic with it.
export { seededRandom } from '../../bin/demo.ts';
