/** The run folder: settings, per-iteration logs (JSONL and CSV), summaries. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export class RunFolder {
  private csvHeader: string[] | null = null;

  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    for (const f of ['log.jsonl', 'log.csv']) fs.rmSync(path.join(dir, f), { force: true });
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
