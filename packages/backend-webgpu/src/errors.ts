// The ir's typed errors, so every backend raises the same kinds and users catch them from whichever
// package they import (errors.test.ts checks that none of ir's is missing here).
export { FlexAttnError, TraceError, ShapeError, OptionError, UnsupportedError, CompileError, BackendUnavailableError, BackendDisposedError } from '@flexattn/ir';
