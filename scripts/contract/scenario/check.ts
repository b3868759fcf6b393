// Assertions of the scenario. A mismatch is recorded and the day goes on
// (so that one run tells every difference); an unexpected status, which
// leaves nothing to go on with, throws (client/cleanmail.ts).
import { isDeepStrictEqual } from "node:util";

export const mismatches: string[] = [];

/** Records a mismatch unless actual deep-equals expected. */
export function eq<T>(actual: T, expected: T, what: string): void {
  if (!isDeepStrictEqual(actual, expected)) {
    mismatches.push(`${what}: got ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`);
  }
}

/** Records a mismatch unless cond holds. */
export function that(cond: boolean, what: string): void {
  if (!cond) mismatches.push(what);
}

/** The one item of xs that pred accepts; throws when there is none. */
export function one<T>(xs: readonly T[], pred: (x: T) => boolean, what: string): T {
  const found = xs.filter(pred);
  if (found.length !== 1) {
    throw new Error(`${what}: ${found.length} matching items in ${JSON.stringify(xs)}`);
  }
  const [x] = found;
  if (x === undefined) throw new Error(`${what}: no item`);
  return x;
}

/** The first item of xs; throws when xs is empty. */
export function first<T>(xs: readonly T[], what: string): T {
  const [x] = xs;
  if (x === undefined) throw new Error(`${what}: empty list`);
  return x;
}

/** The values of key over xs, in order: what a sort or a filter is checked on. */
export function pluck<T, K extends keyof T>(xs: readonly T[], key: K): T[K][] {
  return xs.map((x) => x[key]);
}

/** xs sorted as strings, descending when desc: what a sorted list must equal. */
export function sortedStrings(xs: readonly string[], desc = false): string[] {
  const out = [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return desc ? out.reverse() : out;
}
