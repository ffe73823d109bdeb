// The size of what the embedded broker takes in, checked on the wire before
// aedes buffers anything. MQTT's fixed header declares each packet's length
// up front (a type byte, then a variable-length integer): a packet that
// declares more than its limit closes the connection at once, so that a
// client cannot make the broker hold hundreds of megabytes by announcing
// them. Until the broker has accepted the client's log-in, every packet
// (its CONNECT, and anything sent before the CONNACK) may be at most
// CONNECT_MAX_BYTES; after it, PACKET_MAX_BYTES, which fits the largest
// payload edgeloop sends (a deploy: PAYLOAD_MAX_BYTES) and its topic.

import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { PAYLOAD_MAX_BYTES } from './codec.js';

/** The largest first packet (CONNECT, with its Will and credentials), bytes. */
export const CONNECT_MAX_BYTES = 16 * 1024;
/** The largest packet after it, bytes: a deploy's payload and a topic. */
export const PACKET_MAX_BYTES = PAYLOAD_MAX_BYTES + 1024;

/**
 * Reads MQTT fixed headers off a byte stream and says when one declares
 * more than allowed. Keeps only the header bytes it has not finished.
 */
export class PacketSizeGuard {
  private packets = 0;
  /** Bytes left of the current packet's body (-1: reading a header). */
  private left = -1;
  private header: number[] = [];
  private admitted = false;

  constructor(private readonly firstMax = CONNECT_MAX_BYTES, private readonly restMax = PACKET_MAX_BYTES) {}

  /** The broker accepted the log-in: packets after the first may be up to restMax from now on. */
  admit(): void {
    this.admitted = true;
  }

  /** Feed the next chunk; returns null, or why the connection must close. */
  feed(chunk: Uint8Array): string | null {
    let i = 0;
    while (i < chunk.length) {
      if (this.left > 0) {
        const take = Math.min(this.left, chunk.length - i);
        this.left -= take;
        i += take;
        if (this.left === 0) { this.left = -1; this.packets++; }
        continue;
      }
      this.header.push(chunk[i++]);
      if (this.header.length === 1) continue;              // the type byte
      const last = this.header[this.header.length - 1];
      if ((last & 0x80) !== 0) {
        if (this.header.length > 5) return 'a malformed packet length (more than 4 bytes)';
        continue;
      }
      let length = 0;
      for (let k = this.header.length - 1; k >= 1; k--) length = length * 128 + (this.header[k] & 0x7f);
      const early = this.packets === 0 || !this.admitted;
      const max = early ? this.firstMax : this.restMax;
      if (length > max) {
        const what = this.packets === 0 ? 'first packet (CONNECT)' : early ? 'packet before the log-in was accepted' : 'packet';
        return `a ${what} of ${length} bytes, over the ${max}-byte limit`;
      }
      this.header = [];
      if (length === 0) this.packets++;
      else this.left = length;
    }
    return null;
  }
}

/**
 * The socket as aedes sees it: the same bytes both ways, passed on only
 * after the guard has read their headers; a packet over its limit destroys
 * the socket (onRefused says why) before aedes has buffered it.
 */
const guards = new WeakMap<Duplex, PacketSizeGuard>();

/** The broker accepted this connection's log-in (aedes 'client'): its later packets may be up to PACKET_MAX_BYTES. */
export function admitConnection(conn: unknown): void {
  guards.get(conn as Duplex)?.admit();
}

export function limitedConnection(socket: Socket, onRefused: (why: string) => void): Duplex {
  const guard = new PacketSizeGuard();
  const conn: Duplex = new Duplex({
    read() { socket.resume(); },
    write(chunk, _enc, cb) { socket.write(chunk, cb); },
    final(cb) { socket.end(cb); },
    destroy(err, cb) { socket.destroy(); cb(err); },
  });
  socket.on('data', (chunk: Buffer) => {
    const why = guard.feed(chunk);
    if (why !== null) {
      onRefused(why);
      socket.destroy();
      conn.destroy();
      return;
    }
    if (!conn.push(chunk)) socket.pause();
  });
  guards.set(conn, guard);
  socket.on('end', () => conn.push(null));
  socket.on('close', () => conn.destroy());
  socket.on('error', (err) => conn.destroy(err));
  return conn;
}
