// A refused log-in, as an operator must see it. mqtt.js reports a CONNACK
// that refuses the connection as an 'error' (MQTT 3.1.1 return code 4 bad
// username or password, 5 not authorized; MQTT 5 reason codes 134, 135) and
// then retries on its own. A wrong password does not fix itself, so the
// agent, the coordinator and deploy name it instead of spooling, staying
// empty or saying "no agent seen".

import type { MqttClient } from 'mqtt';

/** The refusal in words, or null for an error that is the network's (the client retries). */
export function loginRefusal(err: Error & { code?: unknown }): string | null {
  const code = typeof err.code === 'number' ? err.code : null;
  if (code === 4 || code === 134 || /bad user ?name or password/i.test(err.message)) return 'the broker refused the log-in: bad username or password';
  if (code === 5 || code === 135 || /not authori[sz]ed/i.test(err.message)) return 'the broker refused the log-in: not authorized';
  return null;
}

/** After a refused log-in, the next attempt (mqtt.js does not retry one by itself), ms. */
export const LOGIN_RETRY_MS = 5000;

/**
 * A client's refused log-ins, watched: each distinct refusal is named once
 * (`onRefused`; `onEach` hears every one), the log-in is tried again every
 * LOGIN_RETRY_MS until stop(), and a connection clears it. The network's
 * other errors are left to the client, which reconnects by itself.
 */
export class LoginWatch {
  /** The last refusal, or null once connected. */
  refusal: string | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(private readonly client: MqttClient, onRefused: (refusal: string) => void, onEach?: () => void) {
    client.on('error', (err) => {
      const refusal = loginRefusal(err);
      if (refusal === null) return;
      onEach?.();
      if (refusal !== this.refusal) {
        this.refusal = refusal;
        onRefused(refusal);
      }
      if (this.stopped) return;
      this.retry ??= setTimeout(() => {
        this.retry = null;
        if (!this.client.connected && !this.stopped) this.client.reconnect();
      }, LOGIN_RETRY_MS);
    });
    client.on('connect', () => { this.refusal = null; });
  }

  /** No more tries (the client is being closed). */
  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
  }
}
