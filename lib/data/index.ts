export * from './dataset';
export * from './embedded';
export * from './random';
export * from './idx';
export * from './download';
