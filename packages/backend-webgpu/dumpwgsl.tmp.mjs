import { globals } from 'webgpu';
import { writeFileSync, mkdirSync } from 'node:fs';
const dir = process.env.WGSL_DUMP; mkdirSync(dir, { recursive: true });
let n = 0;
const orig = globals.GPUDevice.prototype.createShaderModule;
globals.GPUDevice.prototype.createShaderModule = function (desc) { writeFileSync(`${dir}/${String(n++).padStart(3, '0')}.wgsl`, desc.code); return orig.call(this, desc); };
