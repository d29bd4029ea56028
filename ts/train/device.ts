// Where a training run goes: the GPU when the config's `devices` allows one (auto or >= 1) and this
// install has a working CUDA addon and a visible device; the CPU otherwise, saying why.
// MINILM_DEVICE=cpu or =cuda overrides the choice; cuda then fails with the reason rather than fall back.
import { MinilmError } from '../errors.js';
import type { PretrainConfig } from '../config/pretrain-config.js';
import { cudaUnavailableReason } from '../native.js';

export interface DeviceChoice {
  /** "cpu" or "cuda:0", as the native trainer takes it. */
  device: string;
  /** The precision the run computes in there: bf16 needs the GPU. */
  precision: PretrainConfig['precision'];
  /** Why the run is not on the GPU; null when it is. */
  whyNotGpu: string | null;
  /** What the user should know: a bf16 precision that becomes float32 on the CPU. */
  warnings: string[];
}

export function chooseDevice(config: Pick<PretrainConfig, 'devices' | 'precision'>, env: NodeJS.ProcessEnv = process.env): DeviceChoice {
  const forced = env.MINILM_DEVICE;
  if (forced !== undefined && forced !== 'cpu' && forced !== 'cuda') {
    throw new MinilmError(`MINILM_DEVICE=${forced}: expected cpu or cuda`, 'InvalidArg');
  }
  const whyNotGpu = forced === 'cpu' ? 'MINILM_DEVICE=cpu' : cudaUnavailableReason();
  if (whyNotGpu === null) return { device: 'cuda:0', precision: config.precision, whyNotGpu, warnings: [] };
  if (forced === 'cuda') throw new MinilmError(`the GPU was asked for (MINILM_DEVICE=cuda, or device 'cuda'), but it cannot be used: ${whyNotGpu}`, 'InvalidArg');
  const warnings = config.precision === '32-true'
    ? []
    : [`precision: ${config.precision}: bf16 needs the GPU; on the CPU minilm trains in float32 (the config's value is kept in the run's hyperparameters)`];
  return { device: 'cpu', precision: '32-true', whyNotGpu, warnings };
}
