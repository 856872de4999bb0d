/**
 * Reading counts from a datanode's Prometheus text: the fault matrix checks that a fault was seen
 * (a DISK_FULL answered, a corrupt record refused) by the node's own metrics, not by guessing.
 */

/**
 * Sum of every sample of `name` whose labels include all of `labels` (label order free); 0 when
 * there is none.
 */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = new Map<string, string>();
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      present.set(pair[1]!, pair[2]!);
    if (Object.entries(labels).every(([k, v]) => present.get(k) === v)) sum += Number(match[3]);
  }
  return sum;
}
