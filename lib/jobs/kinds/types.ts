/** What a job kind is: validated JSON options in, a report in its folder and a JSON summary out. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunFolder } from '../../report/output';
import { ArgumentError } from '../../errors/errors';

export interface JobContext {
  /** the job's folder: settings, logs, checkpoints, report */
  folder: RunFolder;
  /** continue from the folder's checkpoint when it has one (else start afresh) */
  resume: boolean;
  /** ends the hyper-iterations within one inner step; the report is still written (Ctrl-C) */
  stop?: AbortSignal;
  /** ends the job within one inner step: the promise rejects with an AbortError */
  cancel?: AbortSignal;
  /** one per hyper-iteration, after it is in the folder's log */
  onRecord?: (record: Record<string, unknown>) => void;
  /** what the job is doing (loading data, resumed, final models, ...) */
  onPhase?: (phase: string) => void;
}

/** A job's outcome: JSON, whatever the kind. */
export type JobSummary = Record<string, unknown> & { interrupted: boolean; out: string };

export interface JobKind {
  readonly name: string;
  readonly description: string;
  /** throws an ArgumentError naming the first bad option (unknown names included), before any work */
  checkOptions(options: Record<string, unknown>): void;
  run(options: Record<string, unknown>, ctx: JobContext): Promise<JobSummary>;
  /** the report's charts (Vega-Lite) from what the job's folder holds now: also while it runs */
  charts?(folder: string): NamedChart[];
}

export interface NamedChart {
  /** file name of the plot in the report, without extension */
  name: string;
  spec: Record<string, unknown>;
}

/** A JSON file of a job's folder, or null while it is not written (or being written). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function readFolderJson(file: string): Record<string, any> | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/** The records a job's folder has logged so far (log.jsonl; a line being written is skipped). */
export function loggedRecords(folder: string): Record<string, unknown>[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(folder, 'log.jsonl'), 'utf8');
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // the last line of a running job may be half written
    }
  }
  return out;
}

/** Refuses option names a kind does not know (a typo would otherwise be silently ignored). */
export function refuseUnknown(kind: string, options: Record<string, unknown>, known: readonly string[]): void {
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length) {
    throw new ArgumentError(`${kind}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (known: ${known.join(', ')})`);
  }
}
