// Output conventions shared by every command: human text by default, one JSON document with --json; errors
// as `medtrail: CODE: message` (or {"error":{...}} with --json) on stderr, exit 1 (2 for usage errors).
import { writeFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { isMedtrailError, MedtrailError } from '../core/errors.js';

export interface OutputOptions {
  json?: boolean;
}

export function emit(opts: OutputOptions, value: unknown, human: string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(value)}\n` : `${human}\n`);
}

export function fail(err: unknown, json: boolean): never {
  const e = isMedtrailError(err) ? err : new MedtrailError('INTERNAL', err instanceof Error ? err.message : String(err));
  if (json) {
    process.stderr.write(`${JSON.stringify({ error: { code: e.code, message: e.message, ...(e.fields ? { fields: e.fields } : {}) } })}\n`);
  } else {
    process.stderr.write(`medtrail: ${e.code}: ${e.message}\n`);
    if (e.code === 'INTERNAL' && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  }
  process.exit(e.code === 'CLI_USAGE' ? 2 : 1);
}

/** Wraps a command action: any throw becomes a coded error and a non-zero exit. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const opts = args.find((a): a is { json?: boolean } => typeof a === 'object' && a !== null && 'json' in a);
    try {
      await fn(...args);
    } catch (e) {
      fail(e, opts?.json === true);
    }
  };
}

/** Writes a file that must not exist yet (keys, databases): refuses to overwrite. Secret files get mode 0600. */
export function writeNewFile(path: string, content: string, secret = false): void {
  if (existsSync(path)) throw new MedtrailError('STORE_EXISTS', `${path} already exists; refusing to overwrite`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content, { flag: 'wx', mode: secret ? 0o600 : 0o644 });
}

export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MedtrailError('CLI_IO', `cannot read ${path}`, { cause: e });
  }
  try {
    const v: unknown = JSON.parse(text);
    return v;
  } catch (e) {
    throw new MedtrailError('BAD_JSON', `${path} is not JSON`, { cause: e });
  }
}

export function parsePort(s: string): number {
  const n = Number(s);
  if (!/^[0-9]{1,5}$/.test(s) || n > 65535) throw new MedtrailError('CLI_USAGE', `--port must be 0..65535, got ${s}`);
  return n;
}
