// Waiting on a real cluster: polls a condition until it holds or a deadline passes (errors
// count as "not yet"), and names what it waited for when it gives up.

export async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}
