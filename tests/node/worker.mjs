// The Node engine's I/O thread. The component's imports are synchronous, Node's I/O is not:
// the fetcher (fetcher.mjs) blocks on this worker through synckit (Atomics.wait on a shared
// buffer) while it resolves, lists and reads with `fetch` and `fs/promises`. The worker keeps
// no state between calls: what is left of the verification's byte budget and time travels
// with each call.

import { runAsWorker } from 'synckit';
import { Budget, FetchError, collect, storeFor } from './store.mjs';

runAsWorker(async (operation, budgetLeft, msLeft, image, digest, kinds) => {
  const budget = new Budget(budgetLeft, msLeft);
  try {
    const { store, reference } = await storeFor(image, budget);
    const value =
      operation === 'resolve' ? await store.resolve(reference) : await collect(store, digest, kinds);
    return { value, budgetLeft: budget.left };
  } catch (err) {
    if (err instanceof FetchError) return { error: err.payload, budgetLeft: budget.left };
    throw err;
  }
});
