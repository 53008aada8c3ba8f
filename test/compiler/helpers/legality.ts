/**
 * An ISPD 2020 legality checker written apart from the placer (tests only): it re-derives every kernel's
 * rectangle, time and memory straight from docs/design.md §7/§9 (not from compiler/estimate.ts) and checks a
 * `.paint` solution against a `.kgraph` problem.
 */
import { parseKgraph } from '../../../compiler/ispd/kgraph.ts';

const cd = (a: number, b: number) => Math.ceil(a / b);

interface Conv {
  H: number;
  W: number;
  R: number;
  S: number;
  C: number;
  K: number;
  T: number;
  U: number;
}

/** docs/design.md §7 for one convolution at splits h, w, c, k, with 3 copies (training). */
function conv(x: Conv, h: number, w: number, c: number, k: number) {
  return {
    height: h * w * (c + 1),
    width: 3 * k,
    time: Math.ceil((cd(x.H, h) * cd(x.W, w) * cd(x.C, c) * cd(x.K, k) * x.R * x.S) / (x.T * x.U)),
    memory: cd(x.C, c) * cd(x.K, k) * x.R * x.S + cd(x.W + x.S - 1, w) * cd(x.H + x.R - 1, h) * cd(x.K, k),
  };
}

/** The result of {@link checkPaint}. */
export interface LegalityReport {
  violations: string[];
  maxTime: number;
  wirelength: number;
  score: number;
}

/**
 * Checks a `.paint` solution against its `.kgraph` problem.
 * @returns violations (empty when legal) and the independently computed max time, wirelength and score.
 */
export function checkPaint(kgraphText: string, paintText: string): LegalityReport {
  const k = parseKgraph(kgraphText);
  const v: string[] = [];
  const defs = new Map<string, { kind: string; args: number[] }>();
  const places = new Map<string, { x: number; y: number; r: string }>();
  for (const line of paintText.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    let m = /^(\S+) = (conv|dblock|cblock)\( ([\d ]+) \)$/.exec(t);
    if (m) {
      defs.set(m[1], { kind: m[2], args: m[3].split(' ').map(Number) });
      continue;
    }
    m = /^(\S+) : place\((\d+) (\d+) (R0|R90)\)$/.exec(t);
    if (m) {
      places.set(m[1], { x: Number(m[2]), y: Number(m[3]), r: m[4] });
      continue;
    }
    v.push(`unparseable paint line '${t}'`);
  }
  const rects = new Map<string, { x: number; y: number; w: number; h: number }>();
  let maxTime = 0;
  for (const n of k.nodes) {
    if (n.kind === 'input' || n.kind === 'output') continue;
    const d = defs.get(n.name);
    const p = places.get(n.name);
    if (!d || !p) {
      v.push(`kernel ${n.name} is not defined and placed`);
      continue;
    }
    if (d.kind !== n.kind) v.push(`kernel ${n.name}: kind ${d.kind}, kgraph says ${n.kind}`);
    let shape: { height: number; width: number; time: number; memory: number };
    const a = n.attrs;
    if (n.kind === 'conv') {
      const [H, W, C, K, R, S, T, U, h, w, c, kk] = d.args;
      if ([H, W, C, K, R, S, T, U].join() !== [a.H, a.W, a.C, a.K, a.R, a.S, a.T, a.U].join()) v.push(`kernel ${n.name}: formal arguments differ from the kgraph`);
      if (!(h >= 1 && h <= H && w >= 1 && w <= W && c >= 1 && c <= C && kk >= 1 && kk <= K)) v.push(`kernel ${n.name}: execution parameters out of range`);
      shape = conv({ H, W, R, S, C, K, T, U }, h, w, c, kk);
    } else {
      const [H, W, F, h, w, ...rest] = d.args;
      if ([H, W, F].join() !== [a.h, a.w, a.f].join()) v.push(`kernel ${n.name}: formal arguments differ from the kgraph`);
      const q = F / 4;
      const subs: Conv[] =
        n.kind === 'dblock'
          ? [
              { H, W, R: 1, S: 1, C: F, K: q, T: 1, U: 1 },
              { H, W, R: 3, S: 3, C: q, K: q, T: 1, U: 1 },
              { H, W, R: 1, S: 1, C: q, K: F, T: 1, U: 1 },
            ]
          : [
              { H, W, R: 1, S: 1, C: F / 2, K: q, T: 1, U: 1 },
              { H, W, R: 3, S: 3, C: q, K: q, T: 2, U: 2 },
              { H: H / 2, W: W / 2, R: 1, S: 1, C: q, K: F, T: 1, U: 1 },
              { H, W, R: 1, S: 1, C: F / 2, K: F, T: 2, U: 2 },
            ];
      const cs = rest.slice(0, subs.length);
      const ks = rest.slice(subs.length);
      if (cs.length !== subs.length || ks.length !== subs.length) v.push(`kernel ${n.name}: wrong number of execution parameters`);
      const parts = subs.map((s, i) => conv(s, h, w, cs[i], ks[i]));
      shape = {
        height: Math.max(...parts.map((p) => p.height)),
        width: parts.reduce((s, p) => s + p.width, 0),
        time: Math.max(...parts.map((p) => p.time)),
        memory: Math.max(...parts.map((p) => p.memory)),
      };
    }
    if (shape.memory > k.memlimit) v.push(`kernel ${n.name}: memory ${shape.memory} > ${k.memlimit}`);
    maxTime = Math.max(maxTime, shape.time);
    const [w, h] = p.r === 'R0' ? [shape.width, shape.height] : [shape.height, shape.width];
    if (p.x < 0 || p.y < 0 || p.x + w > k.width || p.y + h > k.height) v.push(`kernel ${n.name} outside the fabric`);
    rects.set(n.name, { x: p.x, y: p.y, w, h });
  }
  const list = [...rects.entries()];
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const [na, a] = list[i];
      const [nb, b] = list[j];
      if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) v.push(`kernels ${na} and ${nb} overlap`);
    }
  }
  const byId = new Map(k.nodes.map((n) => [n.id, n.name]));
  let wirelength = 0;
  for (const e of k.edges) {
    const a = rects.get(byId.get(e.from)!);
    const b = rects.get(byId.get(e.to)!);
    if (a && b) wirelength += Math.abs(a.x + a.w / 2 - (b.x + b.w / 2)) + Math.abs(a.y + a.h / 2 - (b.y + b.h / 2));
  }
  return { violations: v, maxTime, wirelength, score: k.wdeltat * maxTime + k.wlength * wirelength };
}
