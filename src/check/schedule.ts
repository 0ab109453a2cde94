/**
 * A few tasks at a time, the most urgent first: --namespaces reads every namespace's
 * sysctls and counts, and lists the sockets of those that could alert, on as many workers
 * as the machine has cores (the listings are kernel time, one core each). A listing queued
 * while sysctls are still being read goes before them: the namespaces at risk are read
 * first, whatever the order they were found in.
 */

/** Compared element by element, smaller first: [kind, ...] keeps kinds apart. */
export type Urgency = readonly number[];

function before(a: Urgency, b: Urgency): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] < b[i];
  return a.length < b.length;
}

export class Schedule {
  private readonly queued: { urgency: Urgency; run: () => Promise<void> }[] = [];
  private running = 0;
  private waiting: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  /** The first task that threw: idle() rejects with it once the others are done. */
  private failure: { err: unknown } | null = null;

  /** @param workers how many tasks run at once (at least 1) */
  constructor(private readonly workers: number) {}

  /** Queues a task (each reports its own outcome; one that throws fails idle()). */
  add(urgency: Urgency, run: () => Promise<void>): void {
    this.queued.push({ urgency, run });
    this.start();
  }

  /** Resolves once nothing is queued or running, tasks queued meanwhile included. */
  idle(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.settle();
    });
  }

  private settle(): void {
    if (this.running > 0 || this.queued.length > 0) return;
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) {
      if (this.failure === null) w.resolve();
      else w.reject(this.failure.err);
    }
  }

  private start(): void {
    while (this.running < Math.max(1, this.workers) && this.queued.length > 0) {
      // A few hundred namespaces at most: a scan finds the most urgent.
      let best = 0;
      for (let i = 1; i < this.queued.length; i++) if (before(this.queued[i].urgency, this.queued[best].urgency)) best = i;
      const [task] = this.queued.splice(best, 1);
      this.running++;
      task
        .run()
        .catch((err: unknown) => {
          this.failure ??= { err };
          // Nothing more is started once one failed: the run is over.
          this.queued.length = 0;
        })
        .finally(() => {
          this.running--;
          this.start();
          this.settle();
        });
    }
  }
}
