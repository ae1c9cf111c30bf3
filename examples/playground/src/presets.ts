// Starting points for the two boxes: hand-written traced mods and the @flexattn/mods catalogue.
export interface Preset {
  name: string;
  mask: string;
  score: string;
}

export const PRESETS: readonly Preset[] = [
  {
    name: 'causal + ALiBi (hand-written)',
    mask: '(b, h, q, kv) => q.ge(kv)',
    score: [
      'const slopes = capture(Float32Array.from({ length: H }, (_, i) => 2 ** (-8 * (i + 1) / H)));',
      'return (score, b, h, q, kv) => score.add(slopes.at(h).mul(kv.sub(q)));',
    ].join('\n'),
  },
  { name: 'sliding window of 256, causal', mask: '(b, h, q, kv) => q.ge(kv).and(q.sub(kv).lt(256))', score: '' },
  { name: 'documents of 300 tokens, causal inside (mods)', mask: 'documentMask({ lengths: Array.from({ length: Math.ceil(L / 300) }, (_, i) => Math.min(300, L - 300 * i)) }, causal())', score: '' },
  { name: 'prefix LM of 512 + tanh softcap 30 (mods)', mask: 'prefixLm(512)', score: 'softcap(30)' },
  { name: 'no mask, scores halved', mask: '', score: '(score, b, h, q, kv) => score.mul(0.5)' },
];
