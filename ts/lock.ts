// One run at a time per output folder: `pretrain` locks its out_dir and `prepare` its output_dir, so a
// second run started on the same folder is refused instead of writing over the first one's checkpoints,
// metrics or shards. The lock is a file naming the process that holds it. A run that crashed (kill -9,
// power loss) leaves its file behind; the next run sees that its process is gone (or a zombie, or its pid
// now another program's) and takes the lock over, so a restart right after a kill -9 starts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MinilmError } from './errors.js';

export const LOCK_FILE = '.minilm.lock';

interface Owner {
  pid: number;
  host: string;
  command: string;
  started: string;
  /** The process's start time in clock ticks since boot (/proc/PID/stat field 22), where /proc exists. */
  startTicks?: number;
}

export interface FolderLock {
  release(): void;
}

/** Locks `dir` (created if missing) for `command`, or throws naming the run that holds it. */
export function lockFolder(dir: string, command: string): FolderLock {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const owner: Owner = { pid: process.pid, host: os.hostname(), command, started: new Date().toISOString() };
  const startTicks = processStat(process.pid)?.startTicks;
  if (startTicks !== undefined) owner.startTicks = startTicks;
  // Written whole to a private file, then linked into place: link() fails if the lock exists, and a
  // reader never sees a half-written lock.
  const draft = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(draft, `${JSON.stringify(owner)}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(draft, file);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
        const holder = readOwner(file);
        if (holder !== null && isAlive(holder)) {
          const where = holder.host === owner.host ? `pid ${holder.pid}` : `pid ${holder.pid} on ${holder.host}`;
          throw new MinilmError(
            `${dir} is in use by another run: \`${holder.command}\` (${where}, started ${holder.started}). ` +
              `Wait for it to finish or stop it, or use another folder${holder.host === owner.host ? '' : `; if that run is gone, delete ${file}`}.`,
            'InvalidArg',
          );
        }
        fs.rmSync(file, { force: true }); // its run is gone
      }
    }
  } finally {
    fs.rmSync(draft, { force: true });
  }
  const release = () => {
    if (readOwner(file)?.pid === process.pid) fs.rmSync(file, { force: true });
  };
  // Also on process.exit() (a CLI error path); a signal that kills the process leaves a stale lock,
  // which the next run takes over.
  process.once('exit', release);
  return {
    release() {
      process.removeListener('exit', release);
      release();
    },
  };
}

function readOwner(file: string): Owner | null {
  try {
    const owner = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Owner>;
    return typeof owner.pid === 'number' ? (owner as Owner) : null;
  } catch {
    return null;
  }
}

/** Whether the lock's process still runs. One on another host cannot be checked: it counts as alive. */
function isAlive(owner: Owner): boolean {
  return owner.host !== os.hostname() || isRunning(owner.pid, owner.startTicks);
}

/**
 * Whether process `pid` (started at `startTicks`, where known) still runs on this host. On Linux a pid
 * that exists may still not be that process: a zombie (state Z in /proc/PID/stat: killed, not yet reaped,
 * which kill -9 leaves for a moment, and for good in a container without an init), or a later program
 * given the same pid (its start time differs). Elsewhere (no /proc) a process that exists counts as running.
 */
export function isRunning(pid: number, startTicks?: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = processStat(pid);
  if (stat === null) return true;
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return startTicks === undefined || startTicks === stat.startTicks;
}

/** A process's state letter and start time from /proc/PID/stat, or null where it cannot be read. */
export function processStat(pid: number): { state: string; startTicks: number } | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "PID (COMMAND) STATE PPID ...": the command may hold spaces and parentheses, so fields are counted
  // from the last ')'. Field 3 is the state, field 22 the start time.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startTicks = Number(fields[22 - 3]);
  return Number.isFinite(startTicks) ? { state: fields[0], startTicks } : null;
}
