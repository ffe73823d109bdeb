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
  /**
   * A quota on the history file, bytes (SQLite's max_page_count): a write
   * that would grow it past this fails as on a full disk, and is kept and
   * retried like any write error. Default: none (the disk is the limit).
   */
  maxBytes?: number;
  /** Rows kept for retry while writes fail, at most; the oldest go beyond it (counted). Default 1,000,000. */
  maxPending?: number;
  /** The host clock (ms), for the write back-off. Default Date.now. */
  clockMs?: () => number;
}

/** What the store's writes have met: errors are kept, counted and retried, never thrown out of a flush. */
export interface StoreHealth {
  /** Batches that failed to write (each was kept and retried). */
  writeErrors: number;
  /** The last write error (code and message), or null once a write succeeded. */
  lastError: string | null;
  /** Rows waiting (queued, or kept from a failed write). */
  pending: number;
  /** Rows dropped because more than maxPending waited while writes failed. */
  dropped: number;
  /** Rows already stored (same agent, sample and time: a replay, or two recorders), not stored twice. */
  duplicates: number;
  /** When the next write is tried (ms, host clock), while backing off; else null. */
  retryAtMs: number | null;
}

/** The back-off after a failed write: 100 ms, doubling, at most 30 s. */
export const WRITE_RETRY_MIN_MS = 100;
export const WRITE_RETRY_MAX_MS = 30_000;

/** A history file that cannot be opened or fails its integrity check, named with what to do. */
export class StoreOpenError extends Error {
  constructor(readonly path: string, readonly reason: string) {
    super(`telemetry database ${path}: ${reason}; move it aside (a new one is created) or restore it from a backup`);
    this.name = 'StoreOpenError';
  }
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
  private readonly clock: () => number;
  private readonly maxPending: number;
  private backoffMs = 0;
  private readonly h: Omit<StoreHealth, 'pending'> = { writeErrors: 0, lastError: null, dropped: 0, duplicates: 0, retryAtMs: null };

  /** What the writes have met (a copy, read when asked: the rows waiting are counted then). */
  get health(): StoreHealth {
    return { ...this.h, pending: this.pending.length };
  }

  /** A write that failed: counted and kept; with `backOff`, the next one waits (100 ms doubling to 30 s). */
  private failed(err: unknown, backOff: boolean): void {
    this.h.writeErrors++;
    this.h.lastError = `${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`;
    if (!backOff) return;
    this.backoffMs = Math.min(WRITE_RETRY_MAX_MS, Math.max(WRITE_RETRY_MIN_MS, this.backoffMs * 2));
    this.h.retryAtMs = this.clock() + this.backoffMs;
  }

  /** path ':memory:' keeps it in memory (tests). */
  constructor(path: string, opts: TelemetryStoreOptions = {}) {
    if (opts.retainMs !== undefined && !(Number.isFinite(opts.retainMs) && opts.retainMs > 0)) {
      throw new RangeError(`TelemetryStore: retainMs must be a positive number of ms, got ${String(opts.retainMs)}`);
    }
    const sync = opts.synchronous ?? 'normal';
    if (sync !== 'normal' && sync !== 'off') throw new RangeError(`TelemetryStore: synchronous must be 'normal' or 'off', got ${JSON.stringify(opts.synchronous)}`);
    this.retainMs = opts.retainMs ?? null;
    this.clock = opts.clockMs ?? Date.now;
    this.maxPending = opts.maxPending ?? 1_000_000;
    if (!(Number.isSafeInteger(this.maxPending) && this.maxPending >= 1)) throw new RangeError(`TelemetryStore: maxPending must be an integer >= 1, got ${String(opts.maxPending)}`);
    if (opts.maxBytes !== undefined && !(Number.isSafeInteger(opts.maxBytes) && opts.maxBytes >= 65536)) {
      throw new RangeError(`TelemetryStore: maxBytes must be an integer number of bytes >= 65536, got ${String(opts.maxBytes)}`);
    }
    this.db = TelemetryStore.open(path);
    if (opts.maxBytes !== undefined) {
      const page = this.db.pragma('page_size', { simple: true }) as number;
      this.db.pragma(`max_page_count = ${Math.max(1, Math.floor(opts.maxBytes / page))}`);
    }
    this.db.pragma('journal_mode = WAL');
    // In WAL mode NORMAL skips the fsync per commit (one commit every ~20 ms
    // here): a power cut may lose the last few batches, never corrupt the file.
    this.db.pragma(sync === 'off' ? 'synchronous = OFF' : 'synchronous = NORMAL');
    this.migrate();
    this.dedupe();
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS samples (agent TEXT NOT NULL, t_ms INTEGER NOT NULL, setpoint REAL, measurement REAL, output REAL, mode TEXT,
        sample INTEGER, recv_ms INTEGER, cause TEXT, stored_ms INTEGER, tripped INTEGER);
      CREATE INDEX IF NOT EXISTS samples_agent_t ON samples (agent, t_ms);
      CREATE UNIQUE INDEX IF NOT EXISTS samples_once ON samples (agent, sample, t_ms);
      -- A row without a sample number (older agents, the first schema's rows) is one row per agent and time:
      -- in a UNIQUE index NULLs are distinct, so they get their own.
      CREATE UNIQUE INDEX IF NOT EXISTS samples_once_unnumbered ON samples (agent, t_ms) WHERE sample IS NULL;
      CREATE INDEX IF NOT EXISTS samples_t ON samples (t_ms);
      CREATE TABLE IF NOT EXISTS alarms (agent TEXT NOT NULL, t_ms INTEGER NOT NULL, kind TEXT NOT NULL, monitor TEXT NOT NULL, stage TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS alarms_t ON alarms (t_ms);
      CREATE UNIQUE INDEX IF NOT EXISTS alarms_once ON alarms (agent, t_ms, kind, monitor, stage);
    `);
    // Idempotent in the database itself: a replay, a restarted recorder or two recorders never store a row twice.
    this.insertSample = this.db.prepare('INSERT OR IGNORE INTO samples (agent, t_ms, setpoint, measurement, output, mode, sample, recv_ms, cause, stored_ms, tripped) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.insertAlarm = this.db.prepare('INSERT OR IGNORE INTO alarms (agent, t_ms, kind, monitor, stage) VALUES (?, ?, ?, ?, ?)');
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
      let ignored = 0;
      for (const r of rows) {
        const tripped = r.tripped === undefined || r.tripped === null ? null : r.tripped ? 1 : 0;
        ignored += 1 - this.insertSample.run(r.agent, r.tMs, r.setpoint, r.measurement, r.output, r.mode, r.sample ?? null, r.recvMs ?? null, r.cause ?? null, storedMs, tripped).changes;
      }
      this.batchDuplicates = ignored;
      for (const a of alarms) this.insertAlarm.run(a.agent, a.tMs, a.kind, a.monitor, a.stage);
    });
  }

  private batchDuplicates = 0;

  /** Open the file and check it: a file that is not a database, or fails SQLite's quick_check, is a StoreOpenError. */
  private static open(path: string): Database.Database {
    let db: Database.Database;
    try {
      db = new Database(path);
    } catch (err) {
      throw new StoreOpenError(path, `cannot be opened (${(err as { code?: string }).code ?? ''} ${(err as Error).message})`.replace('( ', '('));
    }
    try {
      const rows = db.pragma('quick_check') as { quick_check: string }[];
      // SQLite's lines, one line each (its report spans several: "*** in database main ***\n...").
      const bad = rows.map((r) => r.quick_check.replace(/\s+/g, ' ').trim()).filter((m) => m !== 'ok');
      if (bad.length) throw new StoreOpenError(path, `fails its integrity check (${bad.slice(0, 3).join('; ')}${bad.length > 3 ? `; ${bad.length - 3} more` : ''})`);
    } catch (err) {
      db.close();
      if (err instanceof StoreOpenError) throw err;
      const code = (err as { code?: string }).code ?? '';
      // A file another process holds is sound: say so, and do not send anyone to move it aside.
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') throw new Error(`telemetry database ${path}: locked by another process (${code}); stop the other coordinator or recorder, or give this one its own file`);
      throw new StoreOpenError(path, `fails its integrity check (${code} ${(err as Error).message})`.replace('( ', '('));
    }
    return db;
  }

  /** A file from before rows were unique: drop the second copies, so that the unique index can be made. */
  private dedupe(): void {
    const cols = this.db.prepare("SELECT name FROM pragma_table_info('samples')").all() as { name: string }[];
    if (cols.length === 0) return;
    const has = (name: string) => this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?").get(name) !== undefined;
    if (!has('samples_once')) {
      this.db.exec('DELETE FROM samples WHERE sample IS NOT NULL AND rowid NOT IN (SELECT MIN(rowid) FROM samples GROUP BY agent, sample, t_ms)');
    }
    if (!has('samples_once_unnumbered')) {
      this.db.exec('DELETE FROM samples WHERE sample IS NULL AND rowid NOT IN (SELECT MIN(rowid) FROM samples WHERE sample IS NULL GROUP BY agent, t_ms)');
    }
    const alarms = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alarms'").get() !== undefined;
    if (alarms && !has('alarms_once')) {
      this.db.exec('DELETE FROM alarms WHERE rowid NOT IN (SELECT MIN(rowid) FROM alarms GROUP BY agent, t_ms, kind, monitor, stage)');
    }
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
    if (this.pending.length > this.maxPending) this.bound();
  }

  /** Queue an alarm row; flush() writes it with the samples. alarm() writes at once. */
  addAlarm(a: AlarmRow): void {
    this.pendingAlarms.push(a);
  }

  /** Samples waiting for flush(). */
  get pendingCount(): number {
    return this.pending.length;
  }

  /**
   * Write the queued samples and alarms in one transaction, stamped storedMs.
   * Returns the samples written. A write that fails (a full disk, a quota,
   * a corrupted page, a locked file) is not thrown: the batch stays queued,
   * the error is counted (health), and the next try waits a back-off
   * (100 ms doubling to 30 s); a flush before then writes nothing.
   */
  flush(storedMs: number = this.clock()): number {
    const now = this.clock();
    if (this.h.retryAtMs !== null && now < this.h.retryAtMs) return 0;
    const batch = this.pending;
    const alarms = this.pendingAlarms;
    if (batch.length === 0 && alarms.length === 0) return 0;
    try {
      this.writeBatch(batch, alarms, storedMs);
    } catch (err) {
      this.failed(err, true);
      this.bound();
      return 0;
    }
    this.pending = [];
    this.pendingAlarms = [];
    this.h.duplicates += this.batchDuplicates;
    this.h.lastError = null;
    this.h.retryAtMs = null;
    this.backoffMs = 0;
    return batch.length - this.batchDuplicates;
  }

  /** While writes fail, at most maxPending rows (samples and alarms alike) wait: the oldest beyond it go, counted. */
  private bound(): void {
    const over = this.pending.length - this.maxPending;
    if (over > 0) {
      this.pending.splice(0, over);
      this.h.dropped += over;
    }
    const overAlarms = this.pendingAlarms.length - this.maxPending;
    if (overAlarms > 0) {
      this.pendingAlarms.splice(0, overAlarms);
      this.h.dropped += overAlarms;
    }
  }

  /** An alarm row, written at once; if the write fails, queued with the samples (kept and retried with them). */
  alarm(a: AlarmRow): void {
    if (this.h.retryAtMs !== null) { this.pendingAlarms.push(a); this.bound(); return; }   // backing off: queued
    try {
      this.insertAlarm.run(a.agent, a.tMs, a.kind, a.monitor, a.stage);
    } catch (err) {
      this.failed(err, true);
      this.pendingAlarms.push(a);
      this.bound();
    }
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
    try {
      const a = maxSamples === undefined ? this.q.dropSamples.run(cutoffMs).changes : this.q.dropSamplesSome.run(cutoffMs, maxSamples).changes;
      const b = this.q.dropAlarms.run(cutoffMs).changes;
      return a + b;
    } catch (err) {
      // A delete that fails (a corrupted page) leaves the rows for the next pass; it is an error to see, not to die of.
      this.failed(err, false);
      return 0;
    }
  }

  /** Write what is queued (one last try, whatever the back-off) and close. Rows a failing disk still refuses are counted as dropped. */
  close(): void {
    this.h.retryAtMs = null;
    this.flush();
    this.h.dropped += this.pending.length;
    this.db.close();
  }
}
