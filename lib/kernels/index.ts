/** The kernel layer: validated, non-differentiable calls into the native addon. */
export * from './creation';
export * from './elementwise';
export * from './reduce';
export * from './shape';
export * from './indexing';
export * from './xent';
export * from './fused';
export * from './matmul';
export * from './dispatch';
