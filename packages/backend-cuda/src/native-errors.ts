// The typed errors are ir's, so users catch one class whatever the backend and whichever package
// they import it from (errors.test.ts checks that none of ir's is missing here).
export { FlexAttnError, TraceError, ShapeError, OptionError, UnsupportedError, CompileError, BackendUnavailableError, BackendDisposedError } from '@flexattn/ir';
