import { describe, expect, it } from 'vitest';
import { DEFAULT_STATE, type ViewState, formatState, parseState } from './url-state.ts';

describe('URL state of the timeline scrubber', () => {
  it('keeps the replayed frame (at=, frame=) of a fixed window', () => {
    const state: ViewState = { ...DEFAULT_STATE, time: { kind: 'absolute', from: 60_000, to: 960_000 }, live: false, replay: { at: 120_000, frameSeconds: 300 } };
    expect(formatState(state)).toBe('?from=60000&to=960000&at=120000&frame=300');
    expect(parseState(formatState(state))).toEqual(state);
    // One-minute frames are the default and left out.
    expect(formatState({ ...state, replay: { at: 120_000, frameSeconds: 60 } })).toBe('?from=60000&to=960000&at=120000');
  });

  it('has no replay without a fixed window or a frame time, and ignores frame lengths that are not whole minutes', () => {
    expect(parseState('?range=1h&at=5').replay).toBeUndefined();
    expect(parseState('?from=1&to=9').replay).toBeUndefined();
    expect(parseState('?from=1&to=9&at=2&frame=90').replay).toEqual({ at: 2, frameSeconds: 60 });
    // A relative range drops the frame from the link.
    expect(formatState({ ...DEFAULT_STATE, replay: { at: 5, frameSeconds: 60 } })).toBe('');
  });
});
