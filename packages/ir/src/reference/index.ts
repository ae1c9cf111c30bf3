export { createReferenceBackend } from './backend';
