/**
 * Renders a path into a JSON document the way people read it: `partitions[3].replicas[1].mountPath`.
 * The same spelling is used in every error and in docs/formats.md, so messages can be grepped.
 */
export type JsonPath = readonly (string | number)[];

export function formatJsonPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}
