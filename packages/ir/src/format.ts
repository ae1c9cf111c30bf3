/** Readable SSA dumps of IR graphs, for toString() and error messages. */
import type { LoadArg, Node, ScalarArg } from './node';
import { topoOrder } from './node';

export function formatNode(root: Node, header?: string): string {
  const names = new Map<Node, string>();
  const lines: string[] = header ? [header] : [];
  for (const n of topoOrder([root])) {
    const name = `%${names.size}`;
    names.set(n, name);
    let rhs: string;
    if (n.op === 'const') rhs = `const ${String(n.arg)}`;
    else if (n.op === 'arg') rhs = `arg ${String(n.arg)}`;
    else if (n.op === 'scalar') rhs = `scalar #${(n.arg as ScalarArg).slot}`;
    else if (n.op === 'load') rhs = `load #${(n.arg as LoadArg).slot}[${n.src.map((s) => names.get(s)).join(', ')}]`;
    else rhs = `${n.op} ${n.src.map((s) => names.get(s)).join(', ')}`;
    lines.push(`  ${name}: ${n.dtype} = ${rhs}`);
  }
  lines.push(`  return %${names.size - 1}`);
  return lines.join('\n');
}
