// The service graph over the rollups equals the minute count, in the machine's time zone (see the helper).
import { serviceGraphRollupSuite } from '../helpers/graph-rollups.ts';

serviceGraphRollupSuite(`time zone ${process.env.TZ ?? 'of the machine'}`);
