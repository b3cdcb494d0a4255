// The service graph over the rollups equals the minute count where the engine's hours start half past UTC
// hours (Asia/Kolkata, UTC+5:30). The engine takes its time zone from TZ when it starts, hence a file (a
// process) of its own, TZ set before it loads.
process.env.TZ = 'Asia/Kolkata';
const { serviceGraphRollupSuite } = await import('../helpers/graph-rollups.ts');

serviceGraphRollupSuite('Asia/Kolkata');
