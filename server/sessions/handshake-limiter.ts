/** Counts new connections per address in one-minute windows, so a stranger cannot hammer the handshake. */
export class HandshakeLimiter {
  private readonly windows = new Map<string, { started: number; count: number }>();

  constructor(readonly perMinute: number) {}

  /** Records one handshake from `address`; false when it is over the limit. */
  allow(address: string, now = Date.now()): boolean {
    let window = this.windows.get(address);
    if (window === undefined || now - window.started >= 60_000) {
      if (this.windows.size > 10_000) this.forgetOld(now);
      window = { started: now, count: 0 };
      this.windows.set(address, window);
    }
    window.count++;
    return window.count <= this.perMinute;
  }

  private forgetOld(now: number): void {
    for (const [address, window] of this.windows) if (now - window.started >= 60_000) this.windows.delete(address);
  }
}
