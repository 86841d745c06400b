export type DType = 'float32' | 'float64' | 'int32';
export type FloatDType = 'float32' | 'float64';
export type Device = 'cpu' | 'cuda';
export type TypedArray = Float32Array | Float64Array | Int32Array;

export const DTYPE_CODE: Record<DType, number> = { float32: 0, float64: 1, int32: 2 };
export const DEVICE_CODE: Record<Device, number> = { cpu: 0, cuda: 1 };
export const DTYPE_BYTES: Record<DType, number> = { float32: 4, float64: 8, int32: 4 };

export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'float64' || x === 'int32';
}

export function typedArrayFor(dtype: DType, n: number): TypedArray {
  if (dtype === 'float32') return new Float32Array(n);
  if (dtype === 'float64') return new Float64Array(n);
  return new Int32Array(n);
}

export function dtypeOfTypedArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  return 'int32';
}
