// A log in memory for witness tests: RFC 9162 tree (core/log/merkle.ts) over made-up leaves, signed C2SP
// checkpoints, consistency proofs between any two sizes, and forks (the same key, the same first leaves, then
// another history): what a lying operator would run to show two views.
import { utf8 } from '../../core/bytes.js';
import { publicKeyFromSeed } from '../../core/crypto/ed25519.js';
import { signCheckpoint, verifierKey, type Checkpoint } from '../../core/log/checkpoint.js';
import { completedSubtrees, consistencyProof, leafHash, rootAt } from '../../core/log/merkle.js';

export class MiniLog {
  private readonly perfect: Map<string, Uint8Array>;
  private count: number;

  constructor(
    readonly origin: string,
    readonly seed: Uint8Array,
    /** Leaves carry it, so two forks with other tags grow other trees. */
    readonly tag = 'main',
    from?: MiniLog,
    at?: number,
  ) {
    this.perfect = new Map();
    this.count = 0;
    if (from !== undefined) {
      // Copy the perfect subtrees that lie wholly within the first `at` leaves.
      for (const [k, v] of from.perfect) {
        const [level, index] = k.split('/').map(Number) as [number, number];
        if ((index + 1) * 2 ** level <= at!) this.perfect.set(k, v);
      }
      this.count = at!;
    }
  }

  get size(): number {
    return this.count;
  }

  get vkey(): string {
    return verifierKey(this.origin, publicKeyFromSeed(this.seed));
  }

  private readonly read = (level: number, index: number): Uint8Array => this.perfect.get(`${level}/${index}`)!;

  append(n: number): this {
    for (let i = 0; i < n; i++) {
      const h = leafHash(utf8(`${this.origin} ${this.tag} leaf ${this.count}`));
      for (const s of completedSubtrees(this.count, h, this.read)) this.perfect.set(`${s.level}/${s.index}`, s.hash);
      this.count++;
    }
    return this;
  }

  root(size = this.count): Uint8Array {
    return rootAt(size, this.read);
  }

  checkpoint(size = this.count, extensions: string[] = []): Checkpoint {
    return { origin: this.origin, size, root: this.root(size), extensions };
  }

  /** The signed checkpoint note at `size`. */
  note(size = this.count, extensions: string[] = []): string {
    return signCheckpoint(this.checkpoint(size, extensions), this.origin, this.seed);
  }

  proof(from: number, to = this.count): Uint8Array[] {
    return from === 0 || from === to ? [] : consistencyProof(from, to, this.read);
  }

  /** Another history signed with the same key: the first `at` leaves shared, later ones tagged `tag`. */
  fork(at: number, tag: string): MiniLog {
    return new MiniLog(this.origin, this.seed, tag, this, at);
  }
}
