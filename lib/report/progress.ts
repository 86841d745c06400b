/** Progress output: a redrawn bar on a terminal, plain log lines otherwise (logs, CI, pipes). */

export interface Progress {
  update(done: number, message: string): void;
  log(line: string): void;
  finish(message?: string): void;
}

export function createProgress(total: number, opts: { label: string; stream?: NodeJS.WriteStream; quiet?: boolean } = { label: '' }): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = !!stream.isTTY;
  const start = Date.now();
  let lastLine = 0;
  const width = 28;
  const clear = () => tty && stream.write('\r\x1b[2K');
  return {
    update(done, message) {
      if (opts.quiet) return;
      const elapsed = (Date.now() - start) / 1000;
      const eta = done > 0 ? (elapsed / done) * (total - done) : 0;
      if (tty) {
        const filled = Math.round((width * done) / Math.max(total, 1));
        clear();
        stream.write(`${opts.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${message} | ${elapsed.toFixed(0)}s, ETA ${eta.toFixed(0)}s`);
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
