/**
 * A value as an error message shows it: short whatever it is (a 300-digit number, a megabyte
 * string or a huge array would drown the message that names the argument).
 */
export function show(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') {
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    return Number.isFinite(v) ? String(Number(v.toPrecision(6))) : String(v);
  }
  if (typeof v === 'bigint') return `${v.toString().slice(0, 20)}${v.toString().length > 20 ? '…' : ''}n`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  if (Array.isArray(v)) {
    const items = v.slice(0, 8).map((x) => (typeof x === 'number' ? show(x) : Array.isArray(x) ? '[…]' : typeof x));
    return `[${items.join(', ')}${v.length > 8 ? `, … (${v.length} entries)` : ''}]`;
  }
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${(v as unknown as { length?: number }).length ?? v.byteLength} entries`;
  const name = (v as object).constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}
