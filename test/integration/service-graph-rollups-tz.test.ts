// The service graph over the rollups equals the minute count where the engine's hours start 15 minutes past
// UTC hours (Asia/Kathmandu, UTC+5:45): hour rows cannot be combined with ten-minute blocks there. The engine
// takes its time zone from TZ when it starts, hence a file (a process) of its own, TZ set before it loads.
process.env.TZ = 'Asia/Kathmandu';
const { serviceGraphRollupSuite } = await import('../helpers/graph-rollups.ts');

serviceGraphRollupSuite('Asia/Kathmandu');
