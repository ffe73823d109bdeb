import { describe, expect, it } from 'vitest';
import { freshCore } from '../support/core.js';

describe('core smoke', () => {
  it('starts NOMINAL with defaults', () => {
    const c = freshCore();
    expect(c.mode).toBe('NOMINAL');
    expect(c.nextIntervalUs).toBe(10_000);
  });
});
