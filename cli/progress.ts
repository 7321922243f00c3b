// Progress for long client commands on stderr (stdout stays clean for --json): a cli-progress bar when a
// person watches a terminal, otherwise a line per tenth, which reads well in a CI log.
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number): void;
  stop(): void;
}

export function progress(label: string, total: number, opts: { json?: boolean; quiet?: boolean }): Progress {
  if (opts.quiet || total <= 0) return { update() {}, stop() {} };
  if (!opts.json && process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: `${label} [{bar}] {percentage}% {value}/{total} {eta_formatted} left`, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
    return { update: (n) => bar.update(n), stop: () => bar.stop() };
  }
  let nextTenth = 1;
  return {
    update(done) {
      while (nextTenth <= 10 && done >= (total * nextTenth) / 10) {
        process.stderr.write(`${label}: ${Math.round((total * nextTenth) / 10)}/${total}\n`);
        nextTenth++;
      }
    },
    stop() {},
  };
}
