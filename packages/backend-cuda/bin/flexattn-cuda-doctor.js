#!/usr/bin/env node
// The doctor's command. A committed file rather than dist/doctor.js, so the bin exists when a package
// manager links it (in a source checkout that is before dist/ is built).
import { main } from '../dist/doctor.js';

process.exit(await main(process.argv.slice(2)));
