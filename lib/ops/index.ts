/** The differentiable op set. */
export * from './elementwise';
export * from './broadcast';
export * from './reduce';
export * from './shape';
export * from './linalg';
export * from './xent';
