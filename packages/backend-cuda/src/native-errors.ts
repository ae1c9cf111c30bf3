// The typed errors of the native layer are ir's, so users catch one class whatever the backend.
export { BackendUnavailableError, CompileError } from '@flexattn/ir';
