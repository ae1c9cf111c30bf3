// The README's example, as the playground runs it and the consumer check runs it in Node: the first
// ```ts block of the repository README, unchanged.

/** The first ```ts code block of a Markdown text. */
export function readmeExample(markdown) {
  const match = /^```ts\n([\s\S]*?)^```$/m.exec(markdown);
  if (!match) throw new Error('README.md has no ```ts code block: the playground and the consumer check run its first one');
  return match[1];
}
