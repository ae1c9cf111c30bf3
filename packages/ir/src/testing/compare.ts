// Moved to the package root (src/compare.ts) so browsers can bundle it without vitest; kept here
// so @flexattn/ir/testing and the testing files keep their import paths.
export * from '../compare';
