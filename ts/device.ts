// Which device a model runs on, for training and generation alike: "auto" takes the GPU when this
// install has a CUDA addon that loads and a visible device, else the CPU; "cuda" fails with the reason
// instead of falling back; "cpu" is the CPU.
import { MinilmError } from './errors.js';
import { cudaUnavailableReason } from './native.js';

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
