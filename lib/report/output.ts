/** The run folder: settings, per-iteration logs (JSONL and CSV), summaries. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export class RunFolder {
  private csvHeader: string[] | null = null;

  /** Creates the folder; its logs start empty (a resumed run rewrites them with `restartLog`). */
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    this.clearLogs();
  }

  /** The logs as they were after these records (a resume: lines written after its checkpoint go). */
  restartLog(records: readonly Record<string, unknown>[]): void {
    this.clearLogs();
    for (const r of records) this.appendLog(r);
  }

  private clearLogs(): void {
    for (const f of ['log.jsonl', 'log.csv']) fs.rmSync(this.file(f), { force: true });
    this.csvHeader = null;
  }

  /** Writes JSON atomically (a temporary file renamed over the old one): a kill never leaves half a file. */
  writeJsonAtomic(name: string, value: unknown): string {
    const f = this.file(name), tmp = `${f}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(value));
    fs.renameSync(tmp, f);
    return f;
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  writeJson(name: string, value: unknown): string {
    const f = this.file(name);
    fs.writeFileSync(f, JSON.stringify(value, null, 2) + '\n');
    return f;
  }

  /** Appends one record to log.jsonl and log.csv (flat numeric/string fields only in the CSV). */
  appendLog(record: Record<string, unknown>): void {
    fs.appendFileSync(this.file('log.jsonl'), JSON.stringify(record) + '\n');
    const flat = Object.entries(record).filter(([, v]) => typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean');
    if (!this.csvHeader) {
      this.csvHeader = flat.map(([k]) => k);
      fs.appendFileSync(this.file('log.csv'), this.csvHeader.join(',') + '\n');
    }
    const row = this.csvHeader.map((k) => {
      const v = record[k];
      return v === undefined ? '' : String(v);
    });
    fs.appendFileSync(this.file('log.csv'), row.join(',') + '\n');
  }
}
