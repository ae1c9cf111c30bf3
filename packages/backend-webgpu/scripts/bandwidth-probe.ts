/**
 * A read-bandwidth probe for the decode diagnostics: reads two buffers (the decode's K and V)
 * completely, with no math to speak of, in one of three access patterns, so that what the memory
 * system gives on those very buffers can be told apart from what the decode kernel does with it.
 *   chunked    workgroup w streams its own contiguous chunk of both buffers, as a decode split does
 *              (all workgroups at the same offset of their chunks at the same time)
 *   staggered  the same chunks, each workgroup starting at a different step and wrapping around
 *   strided    grid-stride: at each step the workgroups read one contiguous stretch together
 */
import { U } from '../src/engine.js';

export type ProbePattern = 'chunked' | 'staggered' | 'strided';

const NT = 128;
/** vec4 loads per invocation per step and buffer (all issued before use) */
const PER = 4;
const STEP4 = NT * PER;

const CODE = /* wgsl */ `
struct PP { chunk4: u32, steps: u32, mode: u32, _pad: u32 }
@group(0) @binding(0) var<uniform> pp: PP;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> Bv: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> O: array<vec4<f32>>;

@compute @workgroup_size(${NT})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = wg.x;
  let rot = select(0u, (w * 5u) % pp.steps, pp.mode == 1u);
  var acc = vec4<f32>(0.0);
  for (var i = 0u; i < pp.steps; i++) {
    var j = i + rot;
    if (j >= pp.steps) { j -= pp.steps; }
    // mode 2: step i of every workgroup is one contiguous stretch; else workgroup w's own chunk
    let o = select(w * pp.chunk4 + j * ${STEP4}u, (i * nwg.x + w) * ${STEP4}u, pp.mode == 2u) + lid;
${Array.from({ length: PER }, (_, u) => `    let a${u} = A[o + ${u * NT}u];\n    let b${u} = Bv[o + ${u * NT}u];`).join('\n')}
    acc += ${Array.from({ length: PER }, (_, u) => `a${u} + b${u}`).join(' + ')};
  }
  O[w * ${NT}u + lid] = acc;   // keeps the loads alive
}`;

export interface Probe {
  /** encodes one full read of `a` and `b` (same size) as one compute pass */
  encode(enc: GPUCommandEncoder, a: GPUBuffer, b: GPUBuffer, bytes: number, pattern: ProbePattern, timestampWrites?: GPUComputePassTimestampWrites): void;
  destroy(): void;
}

/**
 * The probe for buffers of `bytes` each, in chunks of `chunkBytes` per workgroup (the decode's
 * keys per split × row bytes). Throws when the sizes do not divide into whole steps.
 */
export async function createProbe(device: GPUDevice, bytes: number, chunkBytes: number): Promise<Probe> {
  const chunk4 = chunkBytes / 16;
  const groups = bytes / chunkBytes;
  if (!Number.isInteger(chunk4 / STEP4) || !Number.isInteger(groups)) {
    throw new Error(`bandwidth probe: ${bytes} bytes in chunks of ${chunkBytes} do not split into whole ${STEP4 * 16}-byte steps`);
  }
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module: device.createShaderModule({ code: CODE }), entryPoint: 'main' } });
  const out = device.createBuffer({ size: groups * NT * 16, usage: U.STORAGE });
  const params = new Map<ProbePattern, GPUBuffer>();
  const modes: Record<ProbePattern, number> = { chunked: 0, staggered: 1, strided: 2 };
  for (const [p, mode] of Object.entries(modes) as [ProbePattern, number][]) {
    const buf = device.createBuffer({ size: 16, usage: U.UNIFORM | U.COPY_DST });
    device.queue.writeBuffer(buf, 0, new Uint32Array([chunk4, chunk4 / STEP4, mode, 0]));
    params.set(p, buf);
  }
  return {
    encode(enc, a, b, size, pattern, timestampWrites) {
      if (size !== bytes) throw new Error(`bandwidth probe built for ${bytes}-byte buffers, got ${size}`);
      const bind = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [params.get(pattern)!, a, b, out].map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      const pass = timestampWrites ? enc.beginComputePass({ timestampWrites }) : enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(groups);
      pass.end();
    },
    destroy() {
      out.destroy();
      params.forEach((p) => p.destroy());
    },
  };
}
