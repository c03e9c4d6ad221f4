// The live feed hears of commits through the database's change signal (feed/changeSignal.ts):
// a LISTEN connection on a server, the pool's own connections on the embedded database, where
// a NOTIFY reaches the committing connection only. Either way: a commit is heard, a rollback is not.
import { expect } from 'chai';
import { ON_EMBEDDED_DATABASE, createHazardousArea, getHarness, tokenFor } from './harness';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe(`commit notifications for the live feed (${ON_EMBEDDED_DATABASE ? 'embedded database: the pool\'s connections' : 'server: a LISTEN connection'})`, () => {
  it('a committed write is heard; a rolled-back one is not', async () => {
    const { database, db } = getHarness();
    let heard = 0;
    const unsubscribe = database.changes.subscribe(() => { heard++; });
    try {
      // A server's LISTEN connection opens with the first subscription, so the first write may
      // come before it listens: write until one is heard (at most a few times).
      const token = tokenFor('GEO', 'editor');
      for (let attempt = 0; heard === 0; attempt++) {
        expect(attempt, 'writes committed without being heard').to.be.below(5);
        await createHazardousArea(token);
        await until('a commit to be heard', () => heard > 0, 2_000).catch(() => undefined);
      }

      await sleep(300);
      heard = 0;
      // The sequencing trigger's NOTIFY belongs to the transaction: a rollback sends nothing.
      await db.transaction(async (trx) => {
        await trx.raw("SELECT pg_notify('minefield_changes', 'rolled back')");
        throw new Error('roll back');
      }).catch(() => undefined);
      await sleep(500);
      expect(heard, 'notifications from a rolled-back transaction').to.equal(0);
      await db.raw("SELECT pg_notify('minefield_changes', 'committed')");
      await until('a committed NOTIFY to be heard', () => heard > 0);
    } finally {
      unsubscribe();
    }
  });
});
