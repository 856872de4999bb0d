/**
 * A data node is identified by its endpoint, `host:port` (IPv6 hosts in brackets), everywhere in the
 * cluster map: in partitions.json replicas, in queries and in state-change events. Ports alone are not
 * enough because a local cluster runs every node on one host.
 */
export interface NodeEndpoint {
  readonly host: string;
  readonly port: number;
}

/** A node given either as `host:port` or as an endpoint object. */
export type NodeRef = string | NodeEndpoint;

export function nodeKey(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function nodeRefKey(ref: NodeRef): string {
  return typeof ref === 'string' ? ref : nodeKey(ref.host, ref.port);
}
