// Verdict feedback on an ACR122U-class reader: LED and buzzer through its pseudo-APDU
//   FF 00 40 <LED state> 04 <T1> <T2> <repetitions> <buzzer>
// (T1/T2 in 100 ms units; buzzer 01 = sound during T1). LED state bits: 7 green blink mask, 6 red blink mask,
// 5 initial green blink state, 4 initial red blink state, 3 green state mask, 2 red state mask, 1 final green,
// 0 final red. Sent as an APDU while the card is connected, else as an escape control (as nfc-pcsc does for
// ACR122U). Readers without LEDs answer an error or refuse the control: that is silently a no-op.

export type Feedback = 'ok' | 'alert';

/** What feedback needs of an nfc-pcsc Reader. */
export interface FeedbackReader {
  readonly connection?: object | null;
  transmit(data: Buffer, responseMaxLength: number): Promise<Buffer>;
  control?(data: Buffer, responseMaxLength: number): Promise<Buffer>;
}

/** ok: green blinks once (500 ms) with one beep; alert: red blinks three times (200/200 ms), three beeps. */
export const FEEDBACK_APDU: Readonly<Record<Feedback, Uint8Array>> = {
  ok: Uint8Array.of(0xff, 0x00, 0x40, 0xa8, 0x04, 0x05, 0x01, 0x01, 0x01),
  alert: Uint8Array.of(0xff, 0x00, 0x40, 0x54, 0x04, 0x02, 0x02, 0x03, 0x01),
};

/** Signals a verdict; answers whether the reader took the command. Never throws. */
export async function signal(r: FeedbackReader, kind: Feedback): Promise<boolean> {
  const apdu = Buffer.from(FEEDBACK_APDU[kind]);
  try {
    const res = r.connection ? await r.transmit(apdu, 2) : await r.control?.(apdu, 2);
    // ACR122U answers 90 <LED state>.
    return res !== undefined && res.length === 2 && res[0] === 0x90;
  } catch {
    return false;
  }
}
