/**
 * ISPD 2020 "Wafer-Scale Deep Learning Accelerator Placement" files (docs/design.md §9): the `.kgraph` problem
 * format (read and written) and the `.paint` solution format (written and read back for checking).
 * Over 450 lines on purpose: the two formats, their parser errors (file, line, key) and the model → kgraph
 * conversion share one grammar description and its helpers, and splitting them would duplicate both.
 *
 * kgraph:
 * ```
 * (*
 * test=NAME
 * width=633
 * height=633
 * wdeltat=1
 * wlength=1
 * wadapter=0
 * memlimit=24576
 * *)
 * (* Node Definitions *)
 * input[0] n=[ 112 112 256 ] name='k0'
 * conv[1] W=14 H=14 R=1 S=1 C=1024 K=512 T=1 U=1 name='k1'
 * dblock[5] f=2048 h=7 w=7 name='k5'
 * cblock[1] f=2048 h=14 w=14 name='k1'
 * output[17] n=[7 7 2048] name='k17'
 * (* Connectivity *)
 * input[0]:_ -> conv[1]:x, shape:[112][112][256]
 * conv[1]:y -> conv[2]:x, shape:[14][14][512]
 * ```
 * paint (one definition and one placement line per kernel; X, Y the lowest column and row it occupies):
 * ```
 * k1 = conv( H W C K R S T U h w c k )
 * k5 = dblock( H W F h w c1 c2 c3 k1 k2 k3 )
 * k2 = cblock( H W F h w c1 c2 c3 c4 k1 k2 k3 k4 )
 * k1 : place(X Y R0)
 * ```
 */
import { UserError } from '../../runtime/errors.ts';
import { execKeys } from '../estimate.ts';
import type { BlockSpec, ConvSpec, KernelEdge, KernelGraph, KernelSpec, PlacedKernel, Rotation } from '../ir.ts';
import { customMachine, memoryWordsPerPe, type Machine } from '../machine.ts';

/** A node of a kgraph. */
export interface KgraphNode {
  /** Index in brackets, unique. */
  id: number;
  /** `input`, `output`, `conv`, `dblock` or `cblock`. */
  kind: 'input' | 'output' | 'conv' | 'dblock' | 'cblock';
  name: string;
  /** Numeric attributes (`W H R S C K T U` for conv, `f h w` for blocks). */
  attrs: Record<string, number>;
  /** `n=[…]` of input/output nodes. */
  n?: number[];
  /** 1-based line of the definition. */
  line: number;
}

/** An edge `src[i]:port -> dst[j]:port, shape:[a][b][c]`. */
export interface KgraphEdge {
  from: number;
  to: number;
  shape: number[];
  line: number;
}

/** A parsed kgraph problem. */
export interface Kgraph {
  /** `test=` of the header (the benchmark's name). */
  test: string;
  width: number;
  height: number;
  /** Score weight of the max kernel time. */
  wdeltat: number;
  /** Score weight of the wirelength. */
  wlength: number;
  wadapter: number;
  /** Words of memory per PE. */
  memlimit: number;
  nodes: KgraphNode[];
  edges: KgraphEdge[];
}

const KINDS = ['input', 'output', 'conv', 'dblock', 'cblock'] as const;
const CONV_KEYS = ['W', 'H', 'R', 'S', 'C', 'K', 'T', 'U'] as const;

/**
 * Parses a kgraph file.
 * @param text file contents.
 * @param file name for messages.
 * @throws UserError `FILE:LINE: what is wrong` for any line that is not a header, comment, node or edge, for
 *   unknown kinds, missing or non-positive attributes, duplicate or undefined node ids.
 */
export function parseKgraph(text: string, file = 'kgraph'): Kgraph {
  const lines = text.split(/\r?\n/);
  const header: Record<string, string> = {};
  const nodes: KgraphNode[] = [];
  const edges: KgraphEdge[] = [];
  const byId = new Map<number, KgraphNode>();
  let inComment = false;
  let sawComment = false;
  const fail = (line: number, msg: string): never => {
    throw new UserError(`${file}:${line}: ${msg}`);
  };
  for (let li = 0; li < lines.length; li++) {
    const lineNo = li + 1;
    let s = lines[li];
    // strip (* … *) comments, remembering key=value lines of the header comment
    let out = '';
    while (s.length) {
      if (inComment) {
        const end = s.indexOf('*)');
        const body = end < 0 ? s : s.slice(0, end);
        const m = /^\s*(\w+)\s*=\s*(\S+)\s*$/.exec(body);
        if (m && nodes.length === 0) header[m[1]] = m[2];
        if (end < 0) {
          s = '';
        } else {
          inComment = false;
          s = s.slice(end + 2);
        }
      } else {
        const start = s.indexOf('(*');
        if (start < 0) {
          out += s;
          s = '';
        } else {
          out += s.slice(0, start);
          inComment = true;
          sawComment = true;
          s = s.slice(start + 2);
        }
      }
    }
    const t = out.trim();
    if (!t) continue;
    const edge = /^(\w+)\[\s*(\d+)\s*\]\s*:\s*\w+\s*->\s*(\w+)\[\s*(\d+)\s*\]\s*:\s*\w+\s*,\s*shape\s*:\s*((?:\[\s*\d+\s*\]\s*)+)$/.exec(t);
    if (edge) {
      const [, k1, i1, k2, i2, shp] = edge;
      const a = byId.get(Number(i1));
      const b = byId.get(Number(i2));
      if (!a) fail(lineNo, `edge from undefined node ${k1}[${i1}]`);
      if (!b) fail(lineNo, `edge to undefined node ${k2}[${i2}]`);
      if (a!.kind !== k1) fail(lineNo, `node ${i1} is a ${a!.kind}, not a ${k1}`);
      if (b!.kind !== k2) fail(lineNo, `node ${i2} is a ${b!.kind}, not a ${k2}`);
      const shape = [...shp.matchAll(/\[\s*(\d+)\s*\]/g)].map((m) => Number(m[1]));
      edges.push({ from: Number(i1), to: Number(i2), shape, line: lineNo });
      continue;
    }
    const node = /^(\w+)\[\s*(\d+)\s*\]\s*(.*)$/.exec(t);
    if (node && !t.includes('->')) {
      const [, kind, idStr, rest] = node;
      if (!(KINDS as readonly string[]).includes(kind)) fail(lineNo, `unknown node kind '${kind}' (expected one of ${KINDS.join(', ')})`);
      const id = Number(idStr);
      if (byId.has(id)) fail(lineNo, `node id ${id} defined twice (first at line ${byId.get(id)!.line})`);
      const attrs: Record<string, number> = {};
      let name = `${kind}${id}`;
      let n: number[] | undefined;
      let restLeft = rest;
      for (const m of rest.matchAll(/(\w+)\s*=\s*(\[[^\]]*\]|'[^']*'|"[^"]*"|[^\s]+)/g)) {
        const [whole, key, val] = m;
        restLeft = restLeft.replace(whole, '');
        if (key === 'name') name = val.replace(/^['"]|['"]$/g, '');
        else if (key === 'n') {
          const nums = val.replace(/[[\]]/g, ' ').trim().split(/\s+/).filter(Boolean).map(Number);
          if (nums.some((x) => !Number.isInteger(x) || x < 1)) fail(lineNo, `bad n=${val} (expected positive integers)`);
          n = nums;
        } else {
          const v = Number(val);
          if (!Number.isInteger(v) || v < 1) fail(lineNo, `attribute ${key}=${val} must be a positive integer`);
          attrs[key] = v;
        }
      }
      if (restLeft.trim()) fail(lineNo, `cannot parse '${restLeft.trim()}' in node definition`);
      const kk = kind as KgraphNode['kind'];
      if (kk === 'conv') {
        if (attrs.U === undefined && attrs.T !== undefined) attrs.U = attrs.T;
        for (const key of CONV_KEYS) if (attrs[key] === undefined) fail(lineNo, `conv node ${id} lacks attribute ${key}`);
      } else if (kk === 'dblock' || kk === 'cblock') {
        for (const key of ['f', 'h', 'w']) if (attrs[key] === undefined) fail(lineNo, `${kk} node ${id} lacks attribute ${key}`);
        if (attrs.f < 4) fail(lineNo, `${kk} node ${id}: f=${attrs.f} must be at least 4`);
      }
      const nd: KgraphNode = { id, kind: kk, name, attrs, n, line: lineNo };
      nodes.push(nd);
      byId.set(id, nd);
      continue;
    }
    fail(lineNo, `cannot parse '${t.length > 60 ? t.slice(0, 60) + '…' : t}' (expected a node definition or an edge)`);
  }
  if (inComment) fail(lines.length, 'unterminated comment (* …');
  if (!sawComment && !nodes.length) fail(1, 'empty kgraph');
  const num = (key: string, dflt: number) => {
    if (header[key] === undefined) return dflt;
    const v = Number(header[key]);
    if (!Number.isFinite(v) || v < 0) fail(1, `header ${key}=${header[key]} is not a number`);
    return v;
  };
  const names = new Set<string>();
  for (const nd of nodes) {
    if (names.has(nd.name)) fail(nd.line, `node name '${nd.name}' used twice`);
    names.add(nd.name);
  }
  return {
    test: header.test ?? file,
    width: num('width', 633),
    height: num('height', 633),
    wdeltat: num('wdeltat', 1),
    wlength: num('wlength', 1),
    wadapter: num('wadapter', 0),
    memlimit: num('memlimit', 24576),
    nodes,
    edges,
  };
}

/** Writes a kgraph in the contest's layout (header comment, node definitions, connectivity). */
export function writeKgraph(k: Kgraph): string {
  const out: string[] = [
    '(*',
    `test=${k.test}`,
    `width=${k.width}`,
    `height=${k.height}`,
    `wdeltat=${k.wdeltat}`,
    `wlength=${k.wlength}`,
    `wadapter=${k.wadapter}`,
    `memlimit=${k.memlimit}`,
    '*)',
    '',
    '(* Node Definitions *)',
  ];
  const byId = new Map(k.nodes.map((n) => [n.id, n]));
  for (const n of k.nodes) {
    let attrs = '';
    if (n.kind === 'conv') attrs = CONV_KEYS.map((key) => `${key}=${n.attrs[key]}`).join(' ');
    else if (n.kind === 'dblock' || n.kind === 'cblock') attrs = `f=${n.attrs.f} h=${n.attrs.h} w=${n.attrs.w}`;
    else attrs = `n=[ ${(n.n ?? []).join(' ')} ]`;
    out.push(`${n.kind}[${n.id}] ${attrs} name='${n.name.replace(/'/g, '_')}'`);
  }
  out.push('', '(* Connectivity *)');
  for (const e of k.edges) {
    const a = byId.get(e.from)!;
    const b = byId.get(e.to)!;
    const fp = a.kind === 'input' ? '_' : 'y';
    const tp = b.kind === 'output' ? '_' : 'x';
    out.push(`${a.kind}[${a.id}]:${fp}\t->\t${b.kind}[${b.id}]:${tp}, shape:${e.shape.map((d) => `[${d}]`).join('')}`);
  }
  return out.join('\n') + '\n';
}

/** Kernel spec of a kgraph kernel node (conv/dblock/cblock). */
export function kgraphSpec(n: KgraphNode): KernelSpec {
  if (n.kind === 'conv') {
    const a = n.attrs;
    return { kind: 'conv', H: a.H, W: a.W, R: a.R, S: a.S, C: a.C, K: a.K, T: a.T, U: a.U, epilogueOps: 0 };
  }
  if (n.kind === 'dblock' || n.kind === 'cblock') return { kind: n.kind, H: n.attrs.h, W: n.attrs.w, F: n.attrs.f };
  throw new Error(`node ${n.name} (${n.kind}) is not a kernel`);
}

/**
 * The kernel graph of a kgraph problem: every conv/dblock/cblock node is a TRAIN kernel (3 copies, as in the
 * contest); edges between kernels carry their shape (2-byte words); edges from input nodes become external
 * edges; edges into output nodes are dropped (nothing to place there).
 */
export function kgraphToKernelGraph(k: Kgraph): KernelGraph {
  const byId = new Map(k.nodes.map((n) => [n.id, n]));
  const kernels = k.nodes
    .filter((n) => n.kind !== 'input' && n.kind !== 'output')
    .map((n) => ({ name: n.name, op: n.kind, layers: [n.name], spec: kgraphSpec(n), copies: 3 as const, paramWords: 0 }));
  const edges: KernelEdge[] = [];
  for (const e of k.edges) {
    const a = byId.get(e.from)!;
    const b = byId.get(e.to)!;
    if (b.kind === 'output' || b.kind === 'input') continue;
    const bytes = e.shape.reduce((p, d) => p * d, 1) * 2;
    edges.push({
      from: a.name,
      to: b.name,
      tensor: `${a.name}:0`,
      shape: e.shape,
      bytesPerSample: bytes,
      external: a.kind === 'input' || a.kind === 'output',
      backward: a.kind !== 'input',
    });
  }
  return {
    formatVersion: 1,
    mode: 'train',
    kernels,
    edges,
    nodeKernel: Object.fromEntries(kernels.map((x) => [x.name, x.name])),
  };
}

/** The machine of a kgraph problem: its fabric, memlimit words of 2 bytes, wlength as wire penalty, WSE-1
 * clock and links. */
export function kgraphMachine(k: Kgraph): Machine {
  return customMachine({
    name: `ispd:${k.test}`,
    description: `ISPD 2020 benchmark ${k.test}`,
    fabric: { width: k.width, height: k.height },
    sramBytesPerPe: k.memlimit * 2,
    wordBytes: 2,
    clockHz: 1.1e9,
    wirePenalty: k.wlength,
  });
}

/**
 * A kgraph for a compiled model's kernel graph (`csrun compile --emit-kgraph`), so that ISPD 2020 placers
 * can place our models. The format knows only conv, dblock and cblock kernels: conv kernels (conv2d and
 * dense, whose fused epilogue the contest model does not count) are written; other kernels (pooling,
 * normalisation, element-wise, loss) are left out and their producers connected straight to their
 * consumers. Each external input becomes an `input` node and each kernel with no written successor feeds an
 * `output` node. The contest model is TRAIN (3 copies) whatever mode the graph was lowered for.
 * @param name the `test=` name.
 */
export function kernelGraphToKgraph(kg: KernelGraph, machine: Machine, name: string): Kgraph {
  const kept = kg.kernels.filter((k) => k.spec.kind === 'conv' || k.spec.kind === 'dblock' || k.spec.kind === 'cblock');
  const keptSet = new Set(kept.map((k) => k.name));
  const preds = new Map<string, KernelEdge[]>();
  for (const e of kg.edges) {
    const l = preds.get(e.to) ?? [];
    l.push(e);
    preds.set(e.to, l);
  }
  // sources of a kept kernel's input: kept kernels or external tensors, through dropped kernels
  const sourcesOf = (kernel: string): { src: string; external: boolean; shape: number[] }[] => {
    const out: { src: string; external: boolean; shape: number[] }[] = [];
    const seen = new Set<string>();
    const walk = (to: string, shape: number[] | null) => {
      for (const e of preds.get(to) ?? []) {
        const sh = shape ?? e.shape;
        if (e.external) {
          if (e.backward === false && e.from === 'labels') continue;
          const key = `x:${e.from}`;
          if (!seen.has(key)) {
            seen.add(key);
            out.push({ src: e.from, external: true, shape: sh });
          }
        } else if (keptSet.has(e.from)) {
          if (!seen.has(e.from)) {
            seen.add(e.from);
            out.push({ src: e.from, external: false, shape: sh });
          }
        } else if (!seen.has(`d:${e.from}`)) {
          seen.add(`d:${e.from}`);
          walk(e.from, sh);
        }
      }
    };
    walk(kernel, null);
    return out;
  };
  const toKShape = (shape: number[]): number[] => {
    if (shape.length >= 3) return [shape[0], shape[1], shape.slice(2).reduce((a, b) => a * b, 1)];
    if (shape.length === 2) return [shape[0], 1, shape[1]];
    return [1, 1, shape[0] ?? 1];
  };
  const nodes: KgraphNode[] = [];
  const edges: KgraphEdge[] = [];
  const idOf = new Map<string, number>();
  const inputs = new Map<string, number[]>();
  const incoming = kept.map((k) => ({ k, srcs: sourcesOf(k.name) }));
  for (const { srcs } of incoming) for (const s of srcs) if (s.external && !inputs.has(s.src)) inputs.set(s.src, s.shape);
  let id = 0;
  for (const [tensor, shape] of inputs) {
    idOf.set(`x:${tensor}`, id);
    nodes.push({ id, kind: 'input', name: tensor, attrs: {}, n: toKShape(shape), line: 0 });
    id++;
  }
  for (const k of kept) {
    idOf.set(k.name, id);
    const sp = k.spec;
    const attrs: Record<string, number> =
      sp.kind === 'conv' ? { W: sp.W, H: sp.H, R: sp.R, S: sp.S, C: sp.C, K: sp.K, T: sp.T, U: sp.U } : { f: (sp as BlockSpec).F, h: (sp as BlockSpec).H, w: (sp as BlockSpec).W };
    nodes.push({ id, kind: sp.kind as 'conv' | 'dblock' | 'cblock', name: k.name, attrs, line: 0 });
    id++;
  }
  const hasSucc = new Set<string>();
  for (const { k, srcs } of incoming) {
    for (const s of srcs) {
      const from = idOf.get(s.external ? `x:${s.src}` : s.src)!;
      if (!s.external) hasSucc.add(s.src);
      edges.push({ from, to: idOf.get(k.name)!, shape: toKShape(s.shape), line: 0 });
    }
  }
  for (const k of kept) {
    if (hasSucc.has(k.name)) continue;
    const sp = k.spec;
    const shape =
      sp.kind === 'conv'
        ? [Math.ceil(sp.H / sp.T), Math.ceil(sp.W / sp.U), sp.K]
        : sp.kind === 'cblock'
          ? [Math.ceil((sp as BlockSpec).H / 2), Math.ceil((sp as BlockSpec).W / 2), (sp as BlockSpec).F]
          : [(sp as BlockSpec).H, (sp as BlockSpec).W, (sp as BlockSpec).F];
    nodes.push({ id, kind: 'output', name: `${k.name}/output`, attrs: {}, n: shape, line: 0 });
    edges.push({ from: idOf.get(k.name)!, to: id, shape, line: 0 });
    id++;
  }
  return {
    test: name,
    width: machine.fabric.width,
    height: machine.fabric.height,
    wdeltat: 1,
    wlength: machine.wirePenalty,
    wadapter: 0,
    memlimit: memoryWordsPerPe(machine),
    nodes,
    edges,
  };
}

/** Formal arguments of a kernel in `.paint` order: conv `H W C K R S T U`, blocks `H W F`. */
export function paintFormals(spec: KernelSpec): number[] {
  if (spec.kind === 'conv') return [spec.H, spec.W, spec.C, spec.K, spec.R, spec.S, spec.T, spec.U];
  if (spec.kind === 'dblock' || spec.kind === 'cblock') return [spec.H, spec.W, spec.F];
  throw new Error(`kernel kind '${spec.kind}' has no .paint form`);
}

/** Writes the `.paint` solution of placed ISPD kernels (conv/dblock/cblock only). */
export function writePaint(kernels: readonly PlacedKernel[]): string {
  const out: string[] = [];
  for (const k of kernels) {
    const exec = execKeys(k.spec).map((key) => k.exec[key]);
    out.push(`${k.name} = ${k.spec.kind}( ${[...paintFormals(k.spec), ...exec].join(' ')} )`);
  }
  for (const k of kernels) out.push(`${k.name} : place(${k.x} ${k.y} ${k.rotation})`);
  return out.join('\n') + '\n';
}

/** One kernel of a parsed `.paint` file. */
export interface PaintEntry {
  name: string;
  kind: string;
  /** Formal arguments then execution parameters, as written. */
  args: number[];
  x: number;
  y: number;
  rotation: Rotation;
  line: number;
}

/**
 * Parses a `.paint` file.
 * @throws UserError `FILE:LINE: …` for a malformed line, a kernel placed but not defined or defined twice.
 */
export function parsePaint(text: string, file = 'paint'): PaintEntry[] {
  const defs = new Map<string, { kind: string; args: number[]; line: number }>();
  const places = new Map<string, { x: number; y: number; rotation: Rotation; line: number }>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const t = raw.replace(/\(\*.*?\*\)/g, '').trim();
    if (!t) return;
    const line = i + 1;
    const d = /^(\S+)\s*=\s*(\w+)\s*\(\s*([-\d\s]*)\)$/.exec(t);
    if (d) {
      if (defs.has(d[1])) throw new UserError(`${file}:${line}: kernel '${d[1]}' defined twice`);
      defs.set(d[1], { kind: d[2], args: d[3].trim().split(/\s+/).filter(Boolean).map(Number), line });
      return;
    }
    const p = /^(\S+)\s*:\s*place\s*\(\s*(-?\d+)\s+(-?\d+)\s+(R0|R90)\s*\)$/.exec(t);
    if (p) {
      places.set(p[1], { x: Number(p[2]), y: Number(p[3]), rotation: p[4] as Rotation, line });
      return;
    }
    throw new UserError(`${file}:${line}: cannot parse '${t}'`);
  });
  const out: PaintEntry[] = [];
  for (const [name, pl] of places) {
    const d = defs.get(name);
    if (!d) throw new UserError(`${file}:${pl.line}: kernel '${name}' is placed but not defined`);
    out.push({ name, kind: d.kind, args: d.args, ...pl });
  }
  return out;
}
