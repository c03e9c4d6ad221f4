// Root hooks: one harness (database + service) for the whole run.
import { startHarness, stopHarness } from './harness';

process.env.NODE_ENV = 'test';

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(300_000);
    await startHarness();
  },
  async afterAll() {
    await stopHarness();
  },
};
