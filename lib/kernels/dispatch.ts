/**
 * Which fused kernels a device's backend provides. Every backend implements the same interface
 * (products, elementwise, reductions, indexing, softmax cross-entropy); a fused kernel does in one
 * pass what ops compose from those, and a backend may or may not have one. An op with a fused
 * implementation asks here and composes itself where the backend lacks it — the native defaults,
 * which refuse, are never reached.
 */
import type { Device } from '../tensor/dtype';
import { native } from '../native/binding';

export type FusedKernel = 'tanhGrad' | 'tanhGradJvp' | 'dynamicsTangent' | 'rowPanels' | 'sparseData' | 'linearXent';

const provided = new Map<Device, ReadonlySet<string>>();

/** Whether the backend of `device` provides `kernel` (false for a device whose backend has not started). */
export function provides(device: Device, kernel: FusedKernel): boolean {
  let set = provided.get(device);
  if (!set) {
    const names = native.fusedKernels(device);
    if (!names) return false; // nothing lives there yet; asked again once something does
    set = new Set(names);
    provided.set(device, set);
  }
  return set.has(kernel);
}

/** @internal What a device's backend is taken to provide (tests: a backend without fused kernels); null: ask it again. */
export function overrideProvided(device: Device, names: readonly FusedKernel[] | null): void {
  if (names === null) provided.delete(device);
  else provided.set(device, new Set(names));
}
