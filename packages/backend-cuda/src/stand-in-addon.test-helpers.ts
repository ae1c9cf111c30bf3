// A stand-in for the CUDA addon (no GPU): device memory is host bytes, so uploads and read-backs
// round-trip; every allocation, free and module load is counted, so tests can assert that nothing
// is held after a call; and any method can be made to throw (`failAt`), to drive calls down their
// error paths. Kernels do not run: launches are recorded.
export const STAND_IN_H100 = { ordinal: 0, name: 'stand-in', computeCapability: [9, 0] as [number, number], totalMem: 80 * 2 ** 30, smCount: 132 };

export type StandInMethod = 'alloc' | 'copyHtoD' | 'copyDtoH' | 'compile' | 'moduleLoad' | 'moduleGetFunction' | 'launch' | 'synchronize' | 'free';

export function standInAddon() {
  let nextPtr = 0x10000n;
  const memory = new Map<bigint, Uint8Array>();
  const modules = new Set<bigint>();
  let nextModule = 0n;
  const launches: string[] = [];
  const names = new Map<bigint, string>();
  let nextFn = 0n;
  /** the method that throws next time, and how many calls of it to let through first */
  let failing: { method: StandInMethod; after: number } | undefined;
  const maybeFail = (method: StandInMethod) => {
    if (failing?.method !== method) return;
    if (failing.after-- > 0) return;
    failing = undefined;
    throw new Error(`CUDA_ERROR_ILLEGAL_ADDRESS: stand-in ${method} failure`); // what the addon throws
  };
  const find = (p: bigint): [Uint8Array, number] => {
    for (const [base, bytes] of memory) if (p >= base && p < base + BigInt(bytes.byteLength)) return [bytes, Number(p - base)];
    throw new Error(`stand-in: ${p} is not allocated`);
  };
  const bytesOf = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const native = {
    alloc(bytes: number) {
      maybeFail('alloc');
      const p = (nextPtr += 0x1000000n);
      memory.set(p, new Uint8Array(bytes));
      return p;
    },
    free(p: bigint) {
      if (!memory.delete(p)) throw new Error(`stand-in: double free of ${p}`);
      maybeFail('free');
    },
    memsetD8(p: bigint, value: number, bytes: number) {
      const [m, at] = find(p);
      m.fill(value, at, at + bytes);
    },
    copyHtoD(p: bigint, data: ArrayBufferView) {
      maybeFail('copyHtoD');
      const [m, at] = find(p);
      m.set(bytesOf(data), at);
    },
    copyDtoH(p: bigint, data: ArrayBufferView) {
      maybeFail('copyDtoH');
      const [m, at] = find(p);
      bytesOf(data).set(m.subarray(at, at + data.byteLength));
    },
    synchronize() {
      maybeFail('synchronize');
    },
    eventCreate: () => 1n,
    eventRecord: () => {},
    eventSynchronize: () => {},
    eventElapsedTime: () => 0.5,
    eventDestroy: () => {},
    async compile() {
      maybeFail('compile');
      return { cubin: new Uint8Array(1), format: 'cubin', log: '', loweredNames: {} };
    },
    moduleLoad() {
      maybeFail('moduleLoad');
      modules.add(++nextModule);
      return nextModule;
    },
    moduleUnload(m: bigint) {
      if (!modules.delete(m)) throw new Error(`stand-in: module ${m} unloaded twice`);
    },
    moduleGetFunction(_m: bigint, name: string) {
      maybeFail('moduleGetFunction');
      names.set(++nextFn, name);
      return nextFn;
    },
    funcSetAttribute: () => {},
    tensorMapEncodeTiled: () => new ArrayBuffer(128),
    launch(f: bigint, grid: readonly number[]) {
      maybeFail('launch');
      launches.push(`${names.get(f)} [${grid.join(',')}]`);
    },
  };
  return {
    native,
    launches,
    /** device allocations live now */
    get allocations() {
      return memory.size;
    },
    /** modules loaded now */
    get loadedModules() {
      return modules.size;
    },
    /** the next `method` call (after `after` more succeed) throws, once, as the addon does; undefined: none */
    failAt(method: StandInMethod | undefined, after = 0) {
      failing = method && { method, after };
    },
  };
}
