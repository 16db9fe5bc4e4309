import type { Entry } from './types.js';

/** Approximate wire size of an entry: payload plus fixed header. */
export function entryBytes(e: Entry): number {
  return e.data.length + 24;
}

/** The longest prefix within maxBytes, but always at least one entry (progress over limits). */
export function limitBySize<T extends Entry>(ents: T[], maxBytes: number): T[] {
  if (ents.length === 0) return ents;
  let size = entryBytes(ents[0]!);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entryBytes(ents[n]!);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}
