// The committed reference runs (experiments/results-reference/<grid>/) must be what the presets in
// experiments/grids/ make today: a preset changed without running it again fails here, naming the
// grid and the fields that differ. A quick preset's run must also fit its half hour.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { differences } from '../../experiments/run-identity.ts';

const root = path.resolve(import.meta.dirname, '../..');
const reference = path.join(root, 'experiments/results-reference');
const QUICK_LIMIT_SECONDS = 30 * 60;

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

/** What a run folder ran: results.json says so; folders from before it did, their config.json. */
function whatRan(dir: string): { grid: string; preset: string; seeds: number; settings: object } {
  const results = readJson(path.join(dir, 'results.json'));
  if (results.config) return results.config;
  const { grid, preset, seeds, settings } = readJson(path.join(dir, 'config.json'));
  return { grid, preset, seeds, settings };
}

const grids = readdirSync(reference, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

describe('committed reference runs', () => {
  it('exist', () => {
    expect(grids.length).toBeGreaterThan(0);
  });

  for (const name of grids) {
    const dir = path.join(reference, name);

    it(`${name}: made with the preset as it stands in experiments/grids/${name}.json`, () => {
      const ran = whatRan(dir);
      expect(ran.grid, `${dir} is a run of grid ${ran.grid}`).toBe(name);
      const file = `experiments/grids/${name}.json`;
      const preset = readJson(path.join(root, file)).presets[ran.preset];
      expect(preset, `${name}: ${file} has no preset ${ran.preset} any more`).toBeDefined();
      // The seeds that ran, which --seeds may have changed from the preset's. The description
      // is words about the run (its measured time among them), not what made its results.
      const differing = differences({ ...ran.settings, seeds: ran.seeds, description: preset.description }, preset);
      expect(differing, `${name}: the committed ${ran.preset} run differs from preset ${ran.preset} of ${file} in: ${differing.join(', ')}; run it again or restore the preset`).toEqual([]);
    });

    it(`${name}: complete, a quick run within 30 minutes`, () => {
      const results = readJson(path.join(dir, 'results.json'));
      expect(results.complete, `${name}: the committed run is unfinished`).toBe(true);
      // Runs from before results.json recorded its time have none to check.
      if (whatRan(dir).preset === 'quick' && results.wallSeconds !== undefined) {
        expect(results.wallSeconds, `${name}: the quick run took ${Math.round(results.wallSeconds / 60)} minutes`).toBeLessThanOrEqual(QUICK_LIMIT_SECONDS);
      }
    });
  }
});
