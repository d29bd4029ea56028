// Which device a model runs on, for training and generation alike: "auto" takes the GPU when this
// install has a CUDA addon that loads and a visible device, else the CPU; "cuda" fails with the reason
// instead of falling back; "cpu" is the CPU. A training run also learns what that means for its
// precision: bf16 needs the GPU. MINILM_DEVICE=cpu or =cuda overrides "auto" for training.
import { MinilmError } from './errors.js';
import { cudaUnavailableReason, gpuMemoryBytes } from './native.js';
import type { PretrainConfig } from './config/pretrain-config.js';

export type DeviceRequest = 'auto' | 'cuda' | 'cpu';

export interface Placement {
  /** "cpu" or "cuda:0", as the native addon takes it. */
  device: string;
  /** Why not the GPU; null when on it. */
  whyNotGpu: string | null;
}

/** `askedHow` names where a "cuda" request came from, for the error when the GPU cannot be used. */
export function placeOn(request: DeviceRequest, askedHow: string): Placement {
  const whyNotGpu = request === 'cpu' ? 'the CPU was asked for' : cudaUnavailableReason();
  if (whyNotGpu === null) return { device: 'cuda:0', whyNotGpu };
  if (request === 'cuda') throw new MinilmError(`the GPU was asked for (${askedHow}), but it cannot be used: ${whyNotGpu}`, 'InvalidArg');
  return { device: 'cpu', whyNotGpu };
}

export interface TrainingPlacement extends Placement {
  /** The precision the run computes in there: bf16 needs the GPU. */
  precision: PretrainConfig['precision'];
  /** What the user should know: a bf16 precision that becomes float32 on the CPU. */
  warnings: string[];
  /** The GPU's total memory in bytes, for the memory estimate's warning; null on the CPU. */
  memoryBytes: number | null;
}

/** Where a training run goes: `request` (the library's device option) if given, else MINILM_DEVICE in `env`, else auto. */
export function chooseDevice(
  config: Pick<PretrainConfig, 'devices' | 'precision'>,
  env: Record<string, string | undefined> = process.env,
  request?: DeviceRequest,
): TrainingPlacement {
  const forced = request ?? env.MINILM_DEVICE;
  if (forced !== undefined && forced !== 'cpu' && forced !== 'cuda' && forced !== 'auto') {
    throw new MinilmError(`MINILM_DEVICE=${forced}: expected cpu or cuda`, 'InvalidArg');
  }
  const askedHow = request === undefined ? "MINILM_DEVICE=cuda, or device 'cuda'" : "device 'cuda'";
  const { device, whyNotGpu } =
    forced === 'cpu'
      ? { device: 'cpu', whyNotGpu: request === undefined ? 'MINILM_DEVICE=cpu' : 'the CPU was asked for' }
      : placeOn(forced ?? 'auto', askedHow);
  if (whyNotGpu === null) return { device, precision: config.precision, whyNotGpu, warnings: [], memoryBytes: gpuMemoryBytes() };
  const warnings =
    config.precision === '32-true'
      ? []
      : [`precision: ${config.precision}: bf16 needs the GPU; on the CPU minilm trains in float32 (the config's value is kept in the run's hyperparameters)`];
  return { device, precision: '32-true', whyNotGpu, warnings, memoryBytes: null };
}
