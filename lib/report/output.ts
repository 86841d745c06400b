/** The run folder: settings, per-iteration logs (JSONL and CSV), state files, summaries. */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArgumentError } from '../errors/errors';
import { writeFileAtomic } from './stateFile';

/** A folder name for a new run that no other run, in this process or another, can take. */
function uniqueName(prefix: string): string {
  const time = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 23);
  return `${prefix}-${time}-${randomBytes(3).toString('hex')}`;
}

/** A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes doubled. */
export function csvField(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export class RunFolder {
  /** The CSV log's columns, fixed for the run (setLogColumns), else those of its first record. */
  private csvHeader: readonly string[] | null = null;
  private fixedColumns: readonly string[] | null = null;

  private constructor(readonly dir: string) {}

  /**
   * A new run's folder: `dir` if given (refused when it exists and is not empty: another run's
   * files would be overwritten), else a fresh `parent/prefix-<time>-<random>` (created exclusively,
   * so two runs started at once never share one).
   */
  static create(dir: string | undefined, parent: string, prefix: string): RunFolder {
    if (dir !== undefined) {
      if (fs.existsSync(dir)) {
        if (!fs.statSync(dir).isDirectory()) throw new ArgumentError(`output folder '${dir}' exists and is not a folder`);
        if (fs.readdirSync(dir).length > 0) throw new ArgumentError(`output folder '${dir}' exists and is not empty (pick another, or continue its run with --resume ${dir})`);
      }
      fs.mkdirSync(dir, { recursive: true });
      return new RunFolder(dir);
    }
    fs.mkdirSync(parent, { recursive: true });
    for (;;) {
      const candidate = path.join(parent, uniqueName(prefix));
      try {
        fs.mkdirSync(candidate); // exclusive: EEXIST if another run took the name
        return new RunFolder(candidate);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
  }

  /** An existing run's folder, to continue it; nothing in it is changed until the caller writes. */
  static open(dir: string): RunFolder {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ArgumentError(`run folder '${dir}' does not exist`);
    return new RunFolder(dir);
  }

  /**
   * The CSV log's columns, for the whole run: a field that only some records have (a test accuracy
   * measured every few iterations) keeps its column, empty where absent.
   */
  setLogColumns(columns: readonly string[]): void {
    this.fixedColumns = columns.slice();
  }

  /** The logs as they were after these records (a resume: lines written after its checkpoint go), rewritten atomically. */
  restartLog(records: readonly Record<string, unknown>[]): void {
    this.csvHeader = null;
    let jsonl = '', csv = '';
    for (const r of records) {
      jsonl += JSON.stringify(r) + '\n';
      csv += this.csvLines(r, csv === '');
    }
    writeFileAtomic(this.file('log.jsonl'), jsonl);
    writeFileAtomic(this.file('log.csv'), csv || this.headerFor(null));
  }

  /** Removes temporary files that a killed writer left (call once the run's state is accepted). */
  removeStaleTemporaries(): void {
    for (const f of fs.readdirSync(this.dir)) if (f.startsWith('.') && f.endsWith('.tmp')) fs.rmSync(this.file(f), { force: true });
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  writeJson(name: string, value: unknown): string {
    const f = this.file(name);
    writeFileAtomic(f, JSON.stringify(value, null, 2) + '\n');
    return f;
  }

  /** Appends one record to log.jsonl and log.csv (flat numeric/string fields only in the CSV). */
  appendLog(record: Record<string, unknown>): void {
    fs.appendFileSync(this.file('log.jsonl'), JSON.stringify(record) + '\n');
    // whether the file still needs its header is asked once, on the run's first line, not on every append
    const csv = this.file('log.csv');
    const withHeader = this.csvHeader === null && (!fs.existsSync(csv) || fs.statSync(csv).size === 0);
    fs.appendFileSync(csv, this.csvLines(record, withHeader));
  }

  /** The header line: the fixed columns, else the flat fields of `record` (empty without either). */
  private headerFor(record: Record<string, unknown> | null): string {
    this.csvHeader ??= this.fixedColumns ?? (record ? Object.keys(record).filter((k) => ['number', 'string', 'boolean'].includes(typeof record[k])) : null);
    return this.csvHeader ? this.csvHeader.map(csvField).join(',') + '\n' : '';
  }

  /** The CSV line of a record, preceded by the header line when `withHeader`. */
  private csvLines(record: Record<string, unknown>, withHeader: boolean): string {
    const header = this.headerFor(record);
    return (withHeader ? header : '') + this.csvHeader!.map((k) => csvField(typeof record[k] === 'object' ? undefined : record[k])).join(',') + '\n';
  }
}
