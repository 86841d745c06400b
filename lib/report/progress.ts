/** Progress output: a redrawn bar on a terminal, plain log lines otherwise (logs, CI, pipes). */

export interface Progress {
  update(done: number, message: string): void;
  log(line: string): void;
  finish(message?: string): void;
}

/**
 * The remaining time from the pace since the first update (setup before it — loading data, a
 * baseline fit — is not part of the pace), smoothed so that one slow iteration (an evaluation)
 * does not swing it: the shown value moves a third of the way to each new estimate.
 */
function etaEstimator(total: number): (done: number, now: number) => number | null {
  let first: { done: number; at: number } | null = null;
  let shown: number | null = null;
  return (done, now) => {
    if (!first) {
      first = { done, at: now };
      return null;
    }
    if (done <= first.done) return shown;
    const estimate = ((now - first.at) / (done - first.done)) * (total - done);
    shown = shown === null ? estimate : shown + (estimate - shown) / 3;
    return Math.max(0, shown);
  };
}

export function createProgress(total: number, opts: { label: string; stream?: NodeJS.WriteStream; quiet?: boolean } = { label: '' }): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = !!stream.isTTY;
  const start = Date.now();
  const eta = etaEstimator(total);
  let lastLine = 0;
  const clear = () => tty && stream.write('\r\x1b[2K');
  const seconds = (s: number) => (s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`);
  return {
    update(done, message) {
      if (opts.quiet) return;
      const elapsed = (Date.now() - start) / 1000;
      const left = eta(done, elapsed);
      if (tty) {
        // One row whatever the terminal's width: the bar shrinks first, then the message is cut.
        const columns = Math.max(40, stream.columns || 80) - 1;
        const tail = ` ${done}/${total} | ${seconds(elapsed)}${left === null ? '' : `, ETA ${seconds(left)}`}`;
        const barWidth = Math.max(8, Math.min(28, columns - opts.label.length - tail.length - message.length - 5));
        const filled = Math.round((barWidth * done) / Math.max(total, 1));
        let line = `${opts.label} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${tail} ${message}`;
        if (line.length > columns) line = `${line.slice(0, columns - 1)}…`;
        clear();
        stream.write(line);
      } else if (Date.now() - lastLine > 2000 || done === total || done === 1) {
        lastLine = Date.now();
        stream.write(`${opts.label} ${done}/${total} ${message} (${elapsed.toFixed(1)}s)\n`);
      }
    },
    log(line) {
      if (opts.quiet) return;
      clear();
      stream.write(line + '\n');
    },
    finish(message) {
      if (opts.quiet) return;
      clear();
      if (message) stream.write(message + '\n');
    },
  };
}
