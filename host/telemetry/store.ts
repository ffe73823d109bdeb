// Field telemetry history in SQLite (better-sqlite3): one row per agent
// sample, the alarm events, and retention by age. Writes are batched in one
// transaction per flush, so thousands of agents at 10 Hz fit.
//
// Each sample keeps the agent's running sample counter (`sample`, +1 per
// tick, never reset by reconnects) so lost samples show as gaps, and the
// time the host received it (`recv_ms`) and stored it (`stored_ms`) next to
// the time it was taken (`t_ms`), so publish-to-store latency is a query.

import Database from 'better-sqlite3';

export interface Sample {
  agent: string;
  /** When the agent took the sample (payload timestamp, ms since the epoch). */
  tMs: number;
  setpoint: number | null;
  measurement: number | null;
  output: number | null;
  /** Supervisor mode; null when the payload did not carry a valid one. */
  mode: string | null;
  /** The agent's running sample counter; null for rows written without one. */
  sample?: number | null;
  /** When the host received it (ms since the epoch). */
  recvMs?: number | null;
  /** First-out cause as `monitor/stage`, '' when none, null when unknown. */
  cause?: string | null;
  /** The trip output de-energized; null when the payload did not say. */
  tripped?: boolean | null;
}

/** A sample as read back: every column present, stored_ms included. */
export interface StoredSample extends Sample {
  sample: number | null;
  recvMs: number | null;
  cause: string | null;
  tripped: boolean | null;
  storedMs: number | null;
}

/**
 * One alarm row. `kind`:
 *   'trip' / 'clear'  a first-out cause raised / cleared: monitor and stage name it
 *   'mode'            a mode change: monitor = the new mode, stage = the one before
 *   'trip_out'        the trip output de-energized: monitor = the cause (CAUSES), stage = its stage
 *   'trip_release'    the trip output energized again: monitor/stage = the cause it had tripped for
 *   'trip_failed'     the trip did not take effect (the actuator's feedback does not show it): the same cause
 * Other kinds are stored as given.
 */
export interface AlarmRow {
  agent: string;
  tMs: number;
  kind: string;
  monitor: string;
  stage: string;
}

/** Per-agent counts: `samples - distinct` are duplicates, `lastSample - firstSample + 1 - distinct` are lost. */
export interface AgentCount {
  agent: string;
  samples: number;
  distinct: number;
  firstSample: number | null;
  lastSample: number | null;
  firstMs: number;
  lastMs: number;
}

/** Missing sample numbers fromSample..toSample (inclusive) of one agent. */
export interface SampleGap {
  fromSample: number;
  toSample: number;
}

export interface TelemetryStoreOptions {
  /** Keep this much history (ms, by sample time); the Recorder applies it as it flushes. */
  retainMs?: number;
  /**
   * 'normal' (default): no fsync per commit, fsyncs at WAL checkpoints; a
   * power cut loses at most the last batches. 'off': no fsync at all; the
   * checkpoint stalls (tens of ms every ~50 batches on a slow disk) go,
   * but a power cut or OS crash can corrupt the file. A process crash is
   * safe either way.
   */
  synchronous?: 'normal' | 'off';
}

const SAMPLE_COLUMNS = 'agent, t_ms AS tMs, setpoint, measurement, output, mode, sample, recv_ms AS recvMs, cause, tripped, stored_ms AS storedMs';

/** A row as SQLite gives it back (tripped as 0/1). */
type SampleRow = Omit<StoredSample, 'tripped'> & { tripped: number | null };
const fromRow = (r: SampleRow): StoredSample => ({ ...r, tripped: r.tripped === null ? null : r.tripped !== 0 });

export class TelemetryStore {
  /** Retention asked for at construction (ms), or null for none. */
  readonly retainMs: number | null;
  private readonly db: Database.Database;
  private readonly insertSample: Database.Statement;
  private readonly insertAlarm: Database.Statement;
  private readonly q: Record<'history' | 'latest' | 'alarms' | 'counts' | 'gaps' | 'dropSamples' | 'dropSamplesSome' | 'dropAlarms', Database.Statement>;
  private readonly writeBatch: (rows: Sample[], alarms: AlarmRow[], storedMs: number) => void;
  private pending: Sample[] = [];
  private pendingAlarms: AlarmRow[] = [];

  /** path ':memory:' keeps it in memory (tests). */
  constructor(path: string, opts: TelemetryStoreOptions = {}) {
    if (opts.retainMs !== undefined && !(Number.isFinite(opts.retainMs) && opts.retainMs > 0)) {
      throw new RangeError(`TelemetryStore: retainMs must be a positive number of ms, got ${String(opts.retainMs)}`);
    }
    const sync = opts.synchronous ?? 'normal';
    if (sync !== 'normal' && sync !== 'off') throw new RangeError(`TelemetryStore: synchronous must be 'normal' or 'off', got ${JSON.stringify(opts.synchronous)}`);
    this.retainMs = opts.retainMs ?? null;
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // In WAL mode NORMAL skips the fsync per commit (one commit every ~20 ms
    // here): a power cut may lose the last few batches, never corrupt the file.
    this.db.pragma(sync === 'off' ? 'synchronous = OFF' : 'synchronous = NORMAL');
    this.migrate();
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS samples (agent TEXT NOT NULL, t_ms INTEGER NOT NULL, setpoint REAL, measurement REAL, output REAL, mode TEXT,
        sample INTEGER, recv_ms INTEGER, cause TEXT, stored_ms INTEGER, tripped INTEGER);
      CREATE INDEX IF NOT EXISTS samples_agent_t ON samples (agent, t_ms);
      CREATE INDEX IF NOT EXISTS samples_t ON samples (t_ms);
      CREATE TABLE IF NOT EXISTS alarms (agent TEXT NOT NULL, t_ms INTEGER NOT NULL, kind TEXT NOT NULL, monitor TEXT NOT NULL, stage TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS alarms_t ON alarms (t_ms);
    `);
    this.insertSample = this.db.prepare('INSERT INTO samples (agent, t_ms, setpoint, measurement, output, mode, sample, recv_ms, cause, stored_ms, tripped) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.insertAlarm = this.db.prepare('INSERT INTO alarms (agent, t_ms, kind, monitor, stage) VALUES (?, ?, ?, ?, ?)');
    this.q = {
      history: this.db.prepare(`SELECT ${SAMPLE_COLUMNS} FROM samples WHERE agent = ? AND t_ms BETWEEN ? AND ? ORDER BY t_ms, sample LIMIT ?`),
      latest: this.db.prepare(`SELECT ${SAMPLE_COLUMNS} FROM samples WHERE agent = ? ORDER BY t_ms DESC, sample DESC LIMIT ?`),
      alarms: this.db.prepare('SELECT agent, t_ms AS tMs, kind, monitor, stage FROM alarms WHERE t_ms >= ? ORDER BY t_ms, rowid'),
      counts: this.db.prepare(`SELECT agent, COUNT(*) AS samples, COUNT(DISTINCT sample) AS distinct_, MIN(sample) AS firstSample, MAX(sample) AS lastSample,
        MIN(t_ms) AS firstMs, MAX(t_ms) AS lastMs FROM samples GROUP BY agent ORDER BY agent`),
      gaps: this.db.prepare(`SELECT prev + 1 AS fromSample, sample - 1 AS toSample FROM
        (SELECT sample, LAG(sample) OVER (ORDER BY sample) AS prev FROM (SELECT DISTINCT sample FROM samples WHERE agent = ? AND sample IS NOT NULL))
        WHERE sample - prev > 1 ORDER BY sample`),
      dropSamples: this.db.prepare('DELETE FROM samples WHERE t_ms < ?'),
      // Bounded: the oldest rows first through the t_ms index, so a pass
      // never stalls the flushes behind it for long.
      dropSamplesSome: this.db.prepare('DELETE FROM samples WHERE rowid IN (SELECT rowid FROM samples WHERE t_ms < ? ORDER BY t_ms LIMIT ?)'),
      dropAlarms: this.db.prepare('DELETE FROM alarms WHERE t_ms < ?'),
    };
    this.writeBatch = this.db.transaction((rows: Sample[], alarms: AlarmRow[], storedMs: number) => {
      for (const r of rows) {
        const tripped = r.tripped === undefined || r.tripped === null ? null : r.tripped ? 1 : 0;
        this.insertSample.run(r.agent, r.tMs, r.setpoint, r.measurement, r.output, r.mode, r.sample ?? null, r.recvMs ?? null, r.cause ?? null, storedMs, tripped);
      }
      for (const a of alarms) this.insertAlarm.run(a.agent, a.tMs, a.kind, a.monitor, a.stage);
    });
  }

  /**
   * Bring an older file up to this schema; rows are kept. The first schema
   * had no sample/recv_ms/cause/stored_ms and mode NOT NULL; the second no
   * tripped (its rows read null: not known).
   */
  private migrate(): void {
    const cols = this.db.prepare("SELECT name FROM pragma_table_info('samples')").all() as { name: string }[];
    if (cols.length === 0) return;
    if (cols.some((c) => c.name === 'sample')) {
      if (!cols.some((c) => c.name === 'tripped')) this.db.exec('ALTER TABLE samples ADD COLUMN tripped INTEGER');
      return;
    }
    // SQLite cannot drop a NOT NULL with ALTER TABLE: copy into a new table.
    this.db.transaction(() => {
      this.db.exec(`
        CREATE TABLE samples_v2 (agent TEXT NOT NULL, t_ms INTEGER NOT NULL, setpoint REAL, measurement REAL, output REAL, mode TEXT,
          sample INTEGER, recv_ms INTEGER, cause TEXT, stored_ms INTEGER, tripped INTEGER);
        INSERT INTO samples_v2 (agent, t_ms, setpoint, measurement, output, mode) SELECT agent, t_ms, setpoint, measurement, output, mode FROM samples;
        DROP TABLE samples;
        ALTER TABLE samples_v2 RENAME TO samples;
      `);
    })();
  }

  /** Queue a sample; flush() writes the queue in one transaction. */
  add(s: Sample): void {
    this.pending.push(s);
  }

  /** Queue an alarm row; flush() writes it with the samples. alarm() writes at once. */
  addAlarm(a: AlarmRow): void {
    this.pendingAlarms.push(a);
  }

  /** Samples waiting for flush(). */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** Write the queued samples and alarms in one transaction, stamped storedMs. Returns the samples written. */
  flush(storedMs: number = Date.now()): number {
    const batch = this.pending;
    const alarms = this.pendingAlarms;
    if (batch.length === 0 && alarms.length === 0) return 0;
    this.pending = [];
    this.pendingAlarms = [];
    this.writeBatch(batch, alarms, storedMs);
    return batch.length;
  }

  alarm(a: AlarmRow): void {
    this.insertAlarm.run(a.agent, a.tMs, a.kind, a.monitor, a.stage);
  }

  /** An agent's samples in [fromMs, toMs], oldest first (at most limit rows, the oldest ones). */
  history(agent: string, fromMs: number, toMs: number, limit = -1): StoredSample[] {
    return (this.q.history.all(agent, fromMs, toMs, limit) as SampleRow[]).map(fromRow);
  }

  /** An agent's latest n samples, oldest first. */
  latest(agent: string, n: number): StoredSample[] {
    return (this.q.latest.all(agent, n) as SampleRow[]).map(fromRow).reverse();
  }

  alarms(sinceMs: number): AlarmRow[] {
    return this.q.alarms.all(sinceMs) as AlarmRow[];
  }

  /** Sample counts per agent, by agent key. */
  counts(): AgentCount[] {
    return (this.q.counts.all() as (Omit<AgentCount, 'distinct'> & { distinct_: number })[])
      .map(({ distinct_, ...c }) => ({ ...c, distinct: distinct_ }));
  }

  /** Runs of sample numbers missing between an agent's first and last stored sample. */
  gaps(agent: string): SampleGap[] {
    return this.q.gaps.all(agent) as SampleGap[];
  }

  /**
   * Retention: drop everything older than cutoffMs. Returns the rows removed.
   * With maxSamples, at most that many samples go in this call (the oldest);
   * call again to go on.
   */
  retain(cutoffMs: number, maxSamples?: number): number {
    const a = maxSamples === undefined ? this.q.dropSamples.run(cutoffMs).changes : this.q.dropSamplesSome.run(cutoffMs, maxSamples).changes;
    const b = this.q.dropAlarms.run(cutoffMs).changes;
    return a + b;
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}
