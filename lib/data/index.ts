export * from './dataset';
export * from './embedded';
export * from './random';
