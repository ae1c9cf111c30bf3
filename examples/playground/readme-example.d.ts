/** The first ```ts code block of a Markdown text. */
export function readmeExample(markdown: string): string;
