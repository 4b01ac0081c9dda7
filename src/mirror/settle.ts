/**
 * Promise.all that waits for every promise to settle before it throws the
 * first error: no process or write is still at work in a staging dir when
 * the caller reports the failure and removes it.
 */
export async function settleAll<T>(promises: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}
