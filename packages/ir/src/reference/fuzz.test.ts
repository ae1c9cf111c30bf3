// The shared fuzz suite (testing/fuzz.ts) on the reference: valid calls against the dense float64
// definition, special values included; invalid calls must throw typed errors.
import { describeFuzz } from '../testing/fuzz';
import { createReferenceBackend } from './backend';

describeFuzz(() => createReferenceBackend(), { label: 'reference' });
