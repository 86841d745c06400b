// Breaks the import cycle between creation/the kernel families and matmul.
export { emptyLike } from './creation';
export { expand } from './elementwise';
