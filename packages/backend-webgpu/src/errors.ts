// The ir's typed errors, so every backend raises the same kinds.
export { BackendUnavailableError, UnsupportedError, ShapeError, CompileError } from '@flexattn/ir';
