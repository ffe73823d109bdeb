// Field telemetry history in SQLite (better-sqlite3): one row per agent
// sample, the alarm events, and retention by age. Writes are batched in one
// transaction per flush, so thousands of agents at 10 Hz fit.

import Database from 'better-sqlite3';

export interface Sample {
  agent: string;
  tMs: number;
  setpoint: number | null;
  measurement: number | null;
  output: number | null;
  mode: string;
}

export interface AlarmRow {
  agent: string;
  tMs: number;
  kind: string;
  monitor: string;
  stage: string;
}

export class TelemetryStore {
  private readonly db: Database.Database;
  private readonly insertSample: Database.Statement;
  private readonly insertAlarm: Database.Statement;
  private pending: Sample[] = [];

  /** path ':memory:' keeps it in memory (tests). */
  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS samples (agent TEXT NOT NULL, t_ms INTEGER NOT NULL, setpoint REAL, measurement REAL, output REAL, mode TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS samples_agent_t ON samples (agent, t_ms);
      CREATE TABLE IF NOT EXISTS alarms (agent TEXT NOT NULL, t_ms INTEGER NOT NULL, kind TEXT NOT NULL, monitor TEXT NOT NULL, stage TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS alarms_t ON alarms (t_ms);
    `);
    this.insertSample = this.db.prepare('INSERT INTO samples VALUES (@agent, @tMs, @setpoint, @measurement, @output, @mode)');
    this.insertAlarm = this.db.prepare('INSERT INTO alarms VALUES (@agent, @tMs, @kind, @monitor, @stage)');
  }

  /** Queue a sample; flush() writes the queue in one transaction. */
  add(s: Sample): void {
    this.pending.push(s);
  }

  flush(): number {
    const batch = this.pending;
    this.pending = [];
    this.db.transaction((rows: Sample[]) => { for (const r of rows) this.insertSample.run(r); })(batch);
    return batch.length;
  }

  alarm(a: AlarmRow): void {
    this.insertAlarm.run(a);
  }

  /** An agent's samples in [fromMs, toMs], oldest first. */
  history(agent: string, fromMs: number, toMs: number): Sample[] {
    return this.db.prepare('SELECT agent, t_ms AS tMs, setpoint, measurement, output, mode FROM samples WHERE agent = ? AND t_ms BETWEEN ? AND ? ORDER BY t_ms')
      .all(agent, fromMs, toMs) as Sample[];
  }

  alarms(sinceMs: number): AlarmRow[] {
    return this.db.prepare('SELECT agent, t_ms AS tMs, kind, monitor, stage FROM alarms WHERE t_ms >= ? ORDER BY t_ms').all(sinceMs) as AlarmRow[];
  }

  /** Retention: drop everything older than cutoffMs. Returns the rows removed. */
  retain(cutoffMs: number): number {
    const a = this.db.prepare('DELETE FROM samples WHERE t_ms < ?').run(cutoffMs).changes;
    const b = this.db.prepare('DELETE FROM alarms WHERE t_ms < ?').run(cutoffMs).changes;
    return a + b;
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}
