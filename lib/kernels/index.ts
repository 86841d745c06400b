/** The kernel layer: validated, non-differentiable calls into the native addon. */
export * from './creation';
export * from './compute';
export * from './matmul';
export * from './dispatch';
