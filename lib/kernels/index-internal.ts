// Breaks the import cycle between creation/compute and matmul.
export { emptyLike } from './creation';
export { expand } from './compute';
