/**
 * The check's own tracefs instance, which keeps the connect()s that failed for want of a
 * local port between two runs (docs/kernel-model.md, "Failed connect()s leave one trace"):
 * arm it, verify it each run (someone may have changed or removed it), drain it, remove it.
 *
 * The instance keeps its own state: each drain ends by writing a marker into the instance's
 * own ring buffer (trace_marker), holding the wall time of the drain and the lost-event
 * total then, so the next drain reads where the last one ended from the kernel's buffer
 * and nothing is written outside the instance.
 */
import type { TraceDoor, TraceInstance, TracePipe } from '../../host/tracefs';
import { formatMarker } from './marker';

/** The instance's name under instances/: the check's own, touched by nothing else (tests use others). */
export const INSTANCE = 'check_ephemeral_ports';

const EVENT = 'sock:inet_sock_set_state';
const EVENT_DIR = 'events/sock/inet_sock_set_state';

/**
 * A connect() whose port search failed: SYN_SENT -> CLOSE while its source port is still
 * 0, TCP only (inet_sock_set_state also fires for SCTP and MPTCP).
 */
export const FILTER = 'oldstate == 2 && newstate == 7 && sport == 0 && protocol == 6';

/**
 * Ring buffer per CPU. An event takes about 76 bytes there (measured: 85 events in 6,512
 * bytes), so this holds some 1,700 failures per CPU between two runs; past that the count
 * says it is a lower bound.
 */
export const BUFFER_KB = 128;

/** What each run verifies, in the order it is armed: the filter before the event is on. */
const WANTED: readonly { file: string; value: string; what: string }[] = [
  { file: 'current_tracer', value: 'nop', what: 'the tracer' },
  // Keep the oldest events when full: the last drain's marker must survive an overflow.
  { file: 'options/overwrite', value: '0', what: 'overwrite mode' },
  { file: `${EVENT_DIR}/filter`, value: FILTER, what: 'the filter' },
  { file: 'set_event', value: EVENT, what: 'the events enabled' },
  { file: 'tracing_on', value: '1', what: 'tracing_on' },
];

/** How long a run waits for another check to finish its drain (it takes milliseconds). */
const BUSY_WAIT_MS = 2000;
const BUSY_POLL_MS = 20;

/** A drain of the instance: the raw text of the buffer and what the drain knows besides. */
export interface TraceDrain {
  readonly counted: true;
  /** The instance was made by this run: counting starts now. */
  readonly made: boolean;
  /** What had been changed in it and was set back (empty when nothing). */
  readonly rearmed: readonly string[];
  /** Everything the buffer held: event lines and the markers of earlier drains. */
  readonly text: string;
  /** Events lost to a full buffer since the instance was made (sum over the CPUs). */
  readonly lostSoFar: number;
  /** The wall time of this drain, as written in its marker. */
  readonly until: string;
  /** False on kernels before 6.6, where two checks at once could split the events. */
  readonly exclusive: boolean;
}

export interface NotCounted {
  readonly counted: false;
  readonly reason: string;
}

/** Where tracefs is mounted, from /proc/self/mounts; the usual place first. */
export function tracefsMountPoint(mounts: string): string | undefined {
  const points = mounts
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f[2] === 'tracefs')
    .map((f) => f[1].replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
  return points.find((p) => p === '/sys/kernel/tracing') ?? points.find((p) => p === '/sys/kernel/debug/tracing') ?? points[0];
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? (err instanceof Error ? err.message : String(err));
}

/** The instance `name` in the mounted tracefs, or why it cannot be reached. */
function reach(door: TraceDoor, name: string): TraceInstance | NotCounted {
  if (door.euid !== 0) return { counted: false, reason: 'needs root (tracefs belongs to root)' };
  const mountPoint = door.mounts === undefined ? undefined : tracefsMountPoint(door.mounts);
  if (mountPoint === undefined) return { counted: false, reason: 'tracefs is not mounted (the check never mounts it: mount -t tracefs nodev /sys/kernel/tracing)' };
  return door.instance(mountPoint, name);
}

/** Sets what differs from WANTED; returns what it had to set (the instance's tampering). */
function arm(instance: TraceInstance): string[] {
  const changed: string[] = [];
  for (const { file, value, what } of WANTED) {
    const now = instance.read(file)?.trim();
    if (now === value) continue;
    changed.push(what);
    if (file === 'set_event') {
      // Only ours: switch every event off, then ours on again.
      instance.write('events/enable', '0');
      instance.write(`${EVENT_DIR}/enable`, '1');
    } else {
      instance.write(file, value);
    }
  }
  return changed;
}

/** Overrun (overwrite mode) and dropped (the mode we set) events over every CPU. */
function lostEvents(instance: TraceInstance): number {
  let lost = 0;
  for (const cpu of instance.list('per_cpu')) {
    const stats = instance.read(`per_cpu/${cpu}/stats`) ?? '';
    for (const m of stats.matchAll(/^(?:overrun|dropped events): (\d+)$/gm)) lost += Number(m[1]);
  }
  return lost;
}

async function openAlone(instance: TraceInstance, door: TraceDoor, signal?: AbortSignal): Promise<TracePipe | 'busy'> {
  for (let waited = 0; ; waited += BUSY_POLL_MS) {
    const pipe = instance.openPipe();
    if (pipe !== 'busy' || waited >= BUSY_WAIT_MS || signal?.aborted) return pipe;
    await door.wait(BUSY_POLL_MS);
  }
}

/**
 * Arms the instance when missing or changed, then drains it. The drain holds trace_pipe
 * open from the first read to the marker, and the kernel lets one reader at a time open it:
 * two checks at once take turns, so neither splits nor doubles the events.
 */
export async function drainFailureTrace(door: TraceDoor, signal?: AbortSignal, name = INSTANCE): Promise<TraceDrain | NotCounted> {
  const instance = reach(door, name);
  if ('counted' in instance) return instance;
  let step = `making ${instance.path}`;
  try {
    const made = instance.create();
    if (instance.read(`${EVENT_DIR}/enable`) === undefined) {
      // Nothing to count with: leave nothing behind either.
      if (made) instance.remove();
      return { counted: false, reason: `this kernel has no ${EVENT} tracepoint (Linux 4.16 and later have it)` };
    }
    if (made) {
      step = `sizing ${instance.path}`;
      instance.write('buffer_size_kb', String(BUFFER_KB));
    }
    step = `arming ${instance.path}`;
    const changed = arm(instance);
    step = `reading ${instance.path}/trace_pipe`;
    const pipe = await openAlone(instance, door, signal);
    if (pipe === 'busy') return { counted: false, reason: `another reader holds ${instance.path}/trace_pipe` };
    try {
      const text = pipe.drain();
      const exclusive = pipe.keepsOthersOut();
      const lostSoFar = lostEvents(instance);
      const until = door.now().toISOString();
      instance.write('trace_marker', formatMarker({ at: until, lostSoFar }));
      return { counted: true, made, rearmed: made ? [] : changed, text, lostSoFar, until, exclusive };
    } finally {
      pipe.close();
    }
  } catch (err) {
    return { counted: false, reason: `${errorText(err)} while ${step}` };
  }
}

/** --failures=off: removes the instance (its events with it). */
export function removeFailureTrace(door: TraceDoor, name = INSTANCE): NotCounted {
  const instance = reach(door, name);
  if ('counted' in instance) return instance;
  try {
    const removed = instance.remove();
    return { counted: false, reason: removed ? `counting stopped: ${instance.path} removed` : 'counting is off (no trace instance)' };
  } catch (err) {
    return { counted: false, reason: `${errorText(err)} while removing ${instance.path}` };
  }
}
