/**
 * Records the user writes (mirror.upstreams, recipes, the host's apt sources
 * by suite) are plain objects indexed by a name the user chose: looked up as
 * own properties only, so "constructor" or "toString" never finds an
 * Object.prototype member. "__proto__" as a key is refused outright (zod's
 * records drop it without a word).
 */

/** record[key] when key is the record's own property, else undefined. */
export function ownValue<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Key paths ("mirror.upstreams.__proto__") of every own "__proto__" key in parsed configuration data. */
export function protoKeyPaths(data: unknown, path: string[] = []): string[] {
  if (typeof data !== 'object' || data === null) return [];
  const found: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    const at = [...path, Array.isArray(data) ? `[${key}]` : key];
    if (key === '__proto__') found.push(at.join('.').replace(/\.\[/g, '['));
    found.push(...protoKeyPaths(value, at));
  }
  return found;
}
