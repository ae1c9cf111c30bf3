import { globals } from 'webgpu';
import { writeFileSync } from 'node:fs';
const orig = globals.GPUDevice.prototype.createShaderModule;
globals.GPUDevice.prototype.createShaderModule = function (desc) {
  if (/@compute/.test(desc.code) && /score_mod/.test(desc.code)) { writeFileSync(process.env.WGSL_ONE, desc.code); process.exit(0); }
  return orig.call(this, desc);
};
