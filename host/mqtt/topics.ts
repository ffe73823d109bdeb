// Sparkplug B topic namespace (spBv1.0), built and parsed in one place.
//
//   spBv1.0/<group_id>/<message_type>/<edge_node_id>[/<device_id>]
//   spBv1.0/STATE/<host_application_id>          (the host application's state)
//
// Identifiers are MQTT topic levels: non-empty, no '/', '+' or '#'.

export const NAMESPACE = 'spBv1.0';

export const NODE_MESSAGES = ['NBIRTH', 'NDEATH', 'NDATA', 'NCMD'] as const;
export const DEVICE_MESSAGES = ['DBIRTH', 'DDEATH', 'DDATA', 'DCMD'] as const;
export type NodeMessage = (typeof NODE_MESSAGES)[number];
export type DeviceMessage = (typeof DEVICE_MESSAGES)[number];
export type MessageType = NodeMessage | DeviceMessage;

export type SparkplugTopic =
  | { kind: 'node'; group: string; type: NodeMessage; node: string }
  | { kind: 'device'; group: string; type: DeviceMessage; node: string; device: string }
  | { kind: 'state'; host: string };

/** A topic or identifier that is not Sparkplug B. */
export class TopicError extends Error {
  constructor(readonly topic: string, reason: string) {
    super(`topic '${topic}': ${reason}`);
    this.name = 'TopicError';
  }
}

// MQTT topic names may not hold U+0000 (MQTT 3.1.1, 4.7.3), nor a Sparkplug id '/', '+' or '#'.
const ID = /^[^/+#\u0000]+$/;

/** Throws a TopicError naming the field unless `value` is a valid identifier. */
export function checkId(field: string, value: string): string {
  if (typeof value !== 'string' || !ID.test(value)) {
    throw new TopicError(String(value), `${field} must be a non-empty MQTT topic level without '/', '+', '#' or NUL`);
  }
  return value;
}

export function nodeTopic(group: string, type: NodeMessage, node: string): string {
  return `${NAMESPACE}/${checkId('group_id', group)}/${type}/${checkId('edge_node_id', node)}`;
}

export function deviceTopic(group: string, type: DeviceMessage, node: string, device: string): string {
  return `${NAMESPACE}/${checkId('group_id', group)}/${type}/${checkId('edge_node_id', node)}/${checkId('device_id', device)}`;
}

/** A STATE timestamp further ahead of the receiver's wall clock than this is no host's (a bad clock, microseconds, a stray): refused, ms. */
export const STATE_AHEAD_MAX_MS = 24 * 3600 * 1000;

/** A host application's STATE payload (Sparkplug 3.0: JSON {online, timestamp}), or null when it is not one. */
export function parseState(payload: Uint8Array): { online: boolean; timestamp: number } | null {
  let s: { online?: unknown; timestamp?: unknown } | null;
  try { s = JSON.parse(Buffer.from(payload).toString('utf8')) as typeof s; } catch { return null; }
  if (typeof s !== 'object' || s === null || typeof s.online !== 'boolean' || typeof s.timestamp !== 'number' || !Number.isFinite(s.timestamp)) return null;
  return { online: s.online, timestamp: s.timestamp };
}

export function stateTopic(host: string): string {
  return `${NAMESPACE}/STATE/${checkId('host_application_id', host)}`;
}

/** Parse a Sparkplug B topic; throws TopicError saying what is wrong. */
export function parseTopic(topic: string): SparkplugTopic {
  const parts = topic.split('/');
  if (parts[0] !== NAMESPACE) throw new TopicError(topic, `expected the namespace '${NAMESPACE}'`);
  if (parts[1] === 'STATE') {
    if (parts.length !== 3) throw new TopicError(topic, `expected ${NAMESPACE}/STATE/<host_application_id>`);
    return { kind: 'state', host: checkId('host_application_id', parts[2]) };
  }
  if (parts.length < 4 || parts.length > 5) {
    throw new TopicError(topic, `expected ${NAMESPACE}/<group_id>/<message_type>/<edge_node_id>[/<device_id>]`);
  }
  const [, group, type, node, device] = parts;
  checkId('group_id', group);
  checkId('edge_node_id', node);
  if ((NODE_MESSAGES as readonly string[]).includes(type)) {
    if (device !== undefined) throw new TopicError(topic, `${type} is a node message: no device_id`);
    return { kind: 'node', group, type: type as NodeMessage, node };
  }
  if ((DEVICE_MESSAGES as readonly string[]).includes(type)) {
    if (device === undefined) throw new TopicError(topic, `${type} is a device message: expected a device_id`);
    return { kind: 'device', group, type: type as DeviceMessage, node, device: checkId('device_id', device) };
  }
  throw new TopicError(topic, `unknown message type '${type}': expected one of ${[...NODE_MESSAGES, ...DEVICE_MESSAGES].join(', ')}`);
}

/**
 * Turn Nagle off on a client's TCP socket: Sparkplug data is small QoS 0
 * packets with no reply to carry the ACK, which Nagle and delayed ACKs would
 * hold back by tens of ms. (Not a topic matter, but every Sparkplug client here needs it.)
 */
export function noDelay(client: { stream?: unknown }): void {
  const socket = client.stream as { setNoDelay?: (on: boolean) => void } | undefined;
  socket?.setNoDelay?.(true);
}
