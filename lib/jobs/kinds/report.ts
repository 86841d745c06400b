/** The end of a job kind's run: its summary and its report's plots, written into the job's folder. */
import * as path from 'node:path';
import { RunFolder } from '../../report/output';
import { writePlot } from '../../report/plots';
import { JobSummary, NamedChart } from './types';

/**
 * Writes summary.json, then the plots of `charts` (which read the folder, summary included), and
 * lists the report's files in summary.files: `files` (what the run wrote), summary.json, the plots.
 */
export async function writeReport(folder: RunFolder, summary: JobSummary, charts: (dir: string) => NamedChart[], files: string[]): Promise<JobSummary> {
  folder.writeJson('summary.json', summary);
  const plots: string[] = [];
  for (const { name, spec } of charts(folder.dir)) plots.push(...(await writePlot(spec, folder.file(name))));
  summary.files = [...files, 'summary.json', ...plots.map((p) => path.basename(p))];
  return summary;
}
