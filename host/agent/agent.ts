// An agent: one core instance closing one loop through its I/O binding, at
// its own pace, and reporting over MQTT as a Sparkplug B edge node with one
// device. The network is never in the control path: the loop ticks whether
// or not the broker is there. MQTT callbacks only put validated commands
// into a bounded inbox; the tick drains it (house style: run at your own pace).

import mqtt, { type MqttClient } from 'mqtt';
import type { Core } from '../runtime/core.js';
import { MODES } from '../runtime/abi.js';
import { decodePayload, encodePayload, SeqCounter, type Metric } from '../mqtt/codec.js';
import { deviceTopic, nodeTopic } from '../mqtt/topics.js';
import { parseCommand, type AgentCommand } from '../mqtt/commands.js';

/** What a real sensor/actuator driver implements. */
export interface IoBinding {
  /** Raw sensor samples (ADC counts; null for none) and the actuator's feedback, at time nowUs. */
  read(nowUs: number): { sensors: (number | null)[]; feedback?: number | null };
  /** Apply the actuator command (engineering units). */
  write(command: number, nowUs: number): void;
}

export interface AgentOptions {
  group: string;
  node: string;
  device: string;
  core: Core;
  binding: IoBinding;
  broker: string;
  /** The agent's clock, microseconds (injected: tests use fake time). */
  clockUs?: () => number;
  /** Commands waiting for a tick; more are refused (counted). */
  inboxMax?: number;
  /** Agents (group/node/device) whose output is this loop's input; announced in DBIRTH. */
  dependsOn?: readonly string[];
}

export interface AgentStats {
  ticks: number;
  published: number;
  commandsApplied: number;
  commandsRejected: number;
  inboxDropped: number;
}

export class Agent {
  readonly stats: AgentStats = { ticks: 0, published: 0, commandsApplied: 0, commandsRejected: 0, inboxDropped: 0 };
  private readonly client: MqttClient;
  private readonly seq = new SeqCounter();
  private readonly inbox: AgentCommand[] = [];
  private readonly acks: Metric[] = [];
  private bdSeq = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly clock: () => number;

  constructor(private readonly opts: AgentOptions) {
    this.clock = opts.clockUs ?? (() => Math.round(performance.now() * 1000));
    const death = nodeTopic(opts.group, 'NDEATH', opts.node);
    this.client = mqtt.connect(opts.broker, {
      clean: true,
      reconnectPeriod: 500,
      will: { topic: death, payload: Buffer.from(encodePayload({ timestamp: Date.now(), metrics: [{ name: 'bdSeq', type: 'UInt64', value: this.bdSeq }] })), qos: 1, retain: false },
    });
    this.client.on('connect', () => this.birth());
    this.client.on('message', (topic, payload) => this.onMessage(topic, payload));
    this.client.on('error', () => { /* reconnects by itself; the loop does not care */ });
  }

  /** Tick the loop on the core's own schedule (setTimeout chain). */
  start(): void {
    const step = () => {
      this.tick();
      this.timer = setTimeout(step, Math.max(1, Math.round(this.opts.core.nextIntervalUs / 1000)));
    };
    step();
  }

  /** One tick: drain the inbox, read, compute, write, report. */
  tick(): void {
    const now = this.clock();
    while (this.inbox.length) this.apply(this.inbox.shift()!, now);
    const core = this.opts.core;
    const io = this.opts.binding.read(now);
    const u = core.tick(now, io);
    this.opts.binding.write(u, now);
    this.stats.ticks++;
    this.publishData(now, u);
  }

  private apply(c: AgentCommand, now: number): void {
    let status = 'ok';
    try {
      const core = this.opts.core;
      switch (c.kind) {
        case 'setpoint': core.setSetpoint(c.value, now); break;
        case 'reset': core.reset(); break;
        case 'hold': core.setSetpoint(core.measurement, now); break;
        case 'param': core.configure({ [c.name]: c.value }); break;
        case 'mode': throw new Error('mode commands need a core export this ABI does not have yet');
      }
      this.stats.commandsApplied++;
    } catch (err) {
      status = `rejected: ${(err as Error).message}`;
      this.stats.commandsRejected++;
    }
    this.acks.push({ name: 'command/ack', type: 'String', value: `${c.id} ${status}` });
  }

  private birth(): void {
    const o = this.opts;
    this.seq.reset();
    this.client.subscribe([deviceTopic(o.group, 'DCMD', o.node, o.device), nodeTopic(o.group, 'NCMD', o.node)], { qos: 1 });
    this.publish(nodeTopic(o.group, 'NBIRTH', o.node), [{ name: 'bdSeq', type: 'UInt64', value: this.bdSeq }, { name: 'Node Control/Rebirth', type: 'Boolean', value: false }]);
    this.publish(deviceTopic(o.group, 'DBIRTH', o.node, o.device), [
      ...this.metrics(this.clock(), o.core.output),
      { name: 'depends_on', type: 'String', value: (o.dependsOn ?? []).join(',') },
    ]);
  }

  private metrics(now: number, u: number): Metric[] {
    const core = this.opts.core;
    const cause = core.cause;
    return [
      { name: 'setpoint', type: 'Double', value: core.setpoint },
      { name: 'measurement', type: 'Double', value: core.measurement },
      { name: 'output', type: 'Double', value: u },
      { name: 'mode', type: 'String', value: core.mode },
      { name: 'cause', type: 'String', value: cause ? `${cause.monitor}/${cause.stage}` : '' },
      { name: 'tick_us', type: 'UInt64', value: now },
    ];
  }

  private publishData(now: number, u: number): void {
    const o = this.opts;
    const metrics = [...this.metrics(now, u), ...this.acks.splice(0)];
    this.publish(deviceTopic(o.group, 'DDATA', o.node, o.device), metrics);
  }

  private publish(topic: string, metrics: Metric[]): void {
    const payload = encodePayload({ timestamp: Date.now(), seq: this.seq.next(), metrics });
    // QoS 1: while the broker is away mqtt.js queues it and sends it on reconnect.
    this.client.publish(topic, Buffer.from(payload), { qos: 1 });
    this.stats.published++;
  }

  private onMessage(topic: string, payload: Buffer): void {
    try {
      const p = decodePayload(payload);
      if (topic.includes('/NCMD/')) {
        if (p.metrics.some((m) => m.name === 'Node Control/Rebirth' && m.value === true)) this.birth();
        return;
      }
      if (this.inbox.length >= (this.opts.inboxMax ?? 64)) { this.stats.inboxDropped++; return; }
      this.inbox.push(parseCommand(p));
    } catch {
      this.stats.commandsRejected++;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.client.endAsync();
  }

  /** For tests: drop the connection without a clean disconnect (the Will fires). */
  kill(): void {
    if (this.timer) clearTimeout(this.timer);
    this.client.stream.destroy();
    this.client.end(true);
  }

  get modeName(): string { return MODES[this.opts.core.raw.mode()]; }
}
