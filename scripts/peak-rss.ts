// Runs a command and samples its peak resident memory (VmHWM, from /proc: Linux only), for the benchmarks.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface MeasuredRun {
  code: number | null;
  stdout: string;
  seconds: number;
  peakRssMb: number;
}

/** Runs `node ARGS`, stdout captured, stderr shown, sampling VmHWM every 100 ms. */
export async function runMeasured(args: string[]): Promise<MeasuredRun> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  let peakKb = 0;
  const sample = setInterval(() => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
    } catch {
      /* exited */
    }
  }, 100);
  const started = process.hrtime.bigint();
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sample);
  return { code, stdout, seconds, peakRssMb: peakKb / 1024 };
}
