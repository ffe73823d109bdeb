// The systemd service manager's notifications (sd_notify), for a part run as
// a Type=notify unit with WatchdogSec= (deploy/*.service): READY=1 once it
// serves, and WATCHDOG=1 every half watchdog period while it is healthy. An
// agent is healthy while its loop ticks: a loop that stopped ticking gets
// no keep-alive, and systemd restarts the service (after the agent's own
// containment: the trip is de-energized by a dead agent's silence too).
//
// Node has no Unix datagram sockets, so the messages go through
// `systemd-notify` (part of systemd; the unit needs NotifyAccess=all, as
// the message comes from a child process). Without NOTIFY_SOCKET (not
// under systemd) nothing is sent and nothing runs.

import { execFile } from 'node:child_process';

export interface ServiceNotifier {
  /** The part is up: READY=1 (with a status line). */
  ready(status: string): void;
  /** Stop the watchdog's timer. */
  close(): void;
}

export interface NotifyOptions {
  env?: NodeJS.ProcessEnv;
  /** Whether the part is healthy now (an agent: its loop ticked since the last look). */
  healthy?: () => boolean;
  /** The systemd-notify program (tests give a stand-in). */
  program?: string;
  /** Said once when a notification cannot be sent. */
  onError?: (message: string) => void;
}

/** The watchdog's period from WATCHDOG_USEC, when it is meant for this process (WATCHDOG_PID). */
export function watchdogPeriodMs(env: NodeJS.ProcessEnv, pid = process.pid): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isInteger(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return null;
  return usec / 1000;
}

export function serviceNotifier(o: NotifyOptions = {}): ServiceNotifier {
  const env = o.env ?? process.env;
  if (!env.NOTIFY_SOCKET) return { ready: () => {}, close: () => {} };
  const program = o.program ?? 'systemd-notify';
  let failed = false;
  const send = (...args: string[]) => {
    // --pid names this process as the sender (NotifyAccess=all accepts it from the child).
    execFile(program, [`--pid=${process.pid}`, ...args], { env, timeout: 5000 }, (err) => {
      if (err && !failed) { failed = true; o.onError?.(`cannot notify systemd (${program}: ${err.message}); the service's watchdog will restart it`); }
    });
  };
  const period = watchdogPeriodMs(env);
  const timer = period === null ? null : setInterval(() => {
    if (!o.healthy || o.healthy()) send('WATCHDOG=1');
  }, Math.max(100, period / 2));
  timer?.unref();
  return {
    ready: (status) => send('--ready', `--status=${status}`),
    close: () => { if (timer) clearInterval(timer); },
  };
}
