// The embedded MQTT broker (aedes): the default, so nothing has to be
// installed. It listens on loopback unless told otherwise; any other
// listener requires credentials.

import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';

export interface BrokerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Required when host is not a loopback address. */
  credentials?: { username: string; password: string };
}

export interface EmbeddedBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export async function startEmbeddedBroker(opts: BrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = opts.host ?? '127.0.0.1';
  if (!LOOPBACK.test(host) && !opts.credentials) {
    throw new Error(`broker: a listener on ${host} (not loopback) requires credentials (username and password)`);
  }
  const broker = await Aedes.createBroker();
  if (opts.credentials) {
    const { username, password } = opts.credentials;
    broker.authenticate = (_client, user, pass, done) => {
      const ok = user === username && pass !== undefined && Buffer.from(pass).toString() === password;
      done(null, ok);
    };
  }
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () => new Promise<void>((resolve) => {
      // The broker first: it ends its clients' connections, so the server can close.
      broker.close(() => server.close(() => resolve()));
    }),
  };
}
