// The part of nfc-pcsc 0.8 (CommonJS, no bundled types) that medtrail uses.
declare module 'nfc-pcsc' {
  import type { EventEmitter } from 'node:events';

  export const TAG_ISO_14443_3: 'TAG_ISO_14443_3';
  export const TAG_ISO_14443_4: 'TAG_ISO_14443_4';

  export interface Card {
    atr?: Buffer;
    standard?: 'TAG_ISO_14443_3' | 'TAG_ISO_14443_4';
    type?: string;
    uid?: string;
  }

  export class Reader extends EventEmitter {
    readonly name: string;
    autoProcessing: boolean;
    card: Card | null;
    connection: { type: number; protocol: number } | null;
    /** The @pokusew/pcsclite reader underneath (its 'status' listeners are dropped when pcscd goes away). */
    reader?: { removeAllListeners(event: string): void };
    transmit(data: Buffer, responseMaxLength: number): Promise<Buffer>;
    control(data: Buffer, responseMaxLength: number): Promise<Buffer>;
    read(blockNumber: number, length: number, blockSize?: number, packetSize?: number, readClass?: number): Promise<Buffer>;
    write(blockNumber: number, data: Buffer, blockSize?: number): Promise<boolean | boolean[]>;
    close(): void;
  }

  export class NFC extends EventEmitter {
    constructor(logger?: unknown);
    readonly readers: Record<string, unknown>;
    close(): void;
  }
}
