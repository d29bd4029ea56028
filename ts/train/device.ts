// Where a training run goes (ts/device.ts decides the device), and what that means for its precision:
// bf16 needs the GPU. MINILM_DEVICE=cpu or =cuda overrides the automatic choice.
import { MinilmError } from '../errors.js';
import type { PretrainConfig } from '../config/pretrain-config.js';
import { placeOn } from '../device.js';

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
  const { device, whyNotGpu } = forced === 'cpu'
    ? { device: 'cpu', whyNotGpu: 'MINILM_DEVICE=cpu' }
    : placeOn(forced ?? 'auto', "MINILM_DEVICE=cuda, or device 'cuda'");
  if (whyNotGpu === null) return { device, precision: config.precision, whyNotGpu, warnings: [] };
  const warnings = config.precision === '32-true'
    ? []
    : [`precision: ${config.precision}: bf16 needs the GPU; on the CPU minilm trains in float32 (the config's value is kept in the run's hyperparameters)`];
  return { device, precision: '32-true', whyNotGpu, warnings };
}
