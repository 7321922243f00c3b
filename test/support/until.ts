// Polls `f` every 50 ms until it gives a value (not undefined), or throws after `ms` naming what was awaited: for
// tests that wait on other processes (witnesses cosigning, a mirror catching up), never as a timing assertion.
export async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
