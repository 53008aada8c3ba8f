import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../runtime/errors.ts';
import { kernelGraphToKgraph, kgraphMachine, kgraphToKernelGraph, parseKgraph, parsePaint, writeKgraph, writePaint } from '../../compiler/ispd/kgraph.ts';
import { lower } from '../../compiler/passes/lower.ts';
import { customMachine } from '../../compiler/machine.ts';
import type { PlacedKernel } from '../../compiler/ir.ts';
import { resnetBlockGraph } from './helpers/graphs.ts';

const SAMPLE = `(*
test=sample
width=100
height=80
wdeltat=1
wlength=4
wadapter=0
memlimit=24576
*)

(* Node Definitions *)
input[ 0] n=[ 28 28 64 ] name='k0'
conv[1] W=28 H=28 R=3 S=3 C=64 K=64 T=1 U=1 name='k1'
dblock[2] f=256 h=28 w=28 name='k2'
cblock[ 3] f=512 h=28 w=28 name='k3'
output[4] n=[14 14 512] name='k4'

(* Connectivity *)
input[ 0]:_    -> conv[1]:x, shape:[28][28][64]
conv[1]:y\t->\tdblock[2]:x, shape:[28][28][64]
dblock[ 2]:y -> cblock[3]:x, shape:[28][28][256]
cblock[3]:y -> output[4]:_, shape:[14][14][512]
`;

describe('kgraph', () => {
  it('parses header, nodes and edges (contest spacing variants)', () => {
    const k = parseKgraph(SAMPLE, 'sample.kgraph');
    expect([k.test, k.width, k.height, k.wdeltat, k.wlength, k.memlimit]).toEqual(['sample', 100, 80, 1, 4, 24576]);
    expect(k.nodes.map((n) => [n.id, n.kind, n.name])).toEqual([
      [0, 'input', 'k0'],
      [1, 'conv', 'k1'],
      [2, 'dblock', 'k2'],
      [3, 'cblock', 'k3'],
      [4, 'output', 'k4'],
    ]);
    expect(k.nodes[1].attrs).toEqual({ W: 28, H: 28, R: 3, S: 3, C: 64, K: 64, T: 1, U: 1 });
    expect(k.nodes[0].n).toEqual([28, 28, 64]);
    expect(k.edges.map((e) => [e.from, e.to, e.shape])).toEqual([
      [0, 1, [28, 28, 64]],
      [1, 2, [28, 28, 64]],
      [2, 3, [28, 28, 256]],
      [3, 4, [14, 14, 512]],
    ]);
  });

  it('round-trips through writeKgraph', () => {
    const k = parseKgraph(SAMPLE);
    const again = parseKgraph(writeKgraph(k));
    expect(again.nodes.map(({ line: _l, ...n }) => n)).toEqual(k.nodes.map(({ line: _l, ...n }) => n));
    expect(again.edges.map(({ line: _l, ...e }) => e)).toEqual(k.edges.map(({ line: _l, ...e }) => e));
  });

  it('names the line of a malformed kgraph', () => {
    const lines = SAMPLE.split('\n');
    const bad = (i: number, text: string) => [...lines.slice(0, i), text, ...lines.slice(i + 1)].join('\n');
    const at = (text: string) => {
      try {
        parseKgraph(text, 'bad.kgraph');
      } catch (e) {
        expect(e).toBeInstanceOf(UserError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(at(bad(12, 'conv[1] W=28 H=28 R=3 S=3 C=64 T=1 U=1 name=\'k1\''))).toMatch(/^bad\.kgraph:13: conv node 1 lacks attribute K/);
    expect(at(bad(12, 'conv[1] W=28 H=x R=3 S=3 C=64 K=64 T=1 U=1 name=\'k1\''))).toMatch(/^bad\.kgraph:13: attribute H=x/);
    expect(at(bad(13, 'pool[2] f=256 h=28 w=28 name=\'k2\''))).toMatch(/^bad\.kgraph:14: unknown node kind 'pool'/);
    expect(at(bad(19, 'conv[1]:y -> dblock[9]:x, shape:[28][28][64]'))).toMatch(/^bad\.kgraph:20: edge to undefined node dblock\[9\]/);
    expect(at(bad(20, 'this is not a kgraph line'))).toMatch(/^bad\.kgraph:21: cannot parse/);
    expect(at(bad(13, 'conv[1] W=1 H=1 R=1 S=1 C=1 K=1 T=1 U=1 name=\'kx\''))).toMatch(/^bad\.kgraph:14: node id 1 defined twice/);
    expect(at('(* never closed')).toMatch(/unterminated comment/);
  });

  it('becomes a TRAIN kernel graph whose edges into outputs are dropped and from inputs are external', () => {
    const kg = kgraphToKernelGraph(parseKgraph(SAMPLE));
    expect(kg.kernels.map((k) => [k.name, k.spec.kind, k.copies])).toEqual([
      ['k1', 'conv', 3],
      ['k2', 'dblock', 3],
      ['k3', 'cblock', 3],
    ]);
    expect(kg.edges.map((e) => [e.from, e.to, e.external])).toEqual([
      ['k0', 'k1', true],
      ['k1', 'k2', false],
      ['k2', 'k3', false],
    ]);
    const m = kgraphMachine(parseKgraph(SAMPLE));
    expect([m.fabric.width, m.fabric.height, m.sramBytesPerPe / m.wordBytes, m.wirePenalty]).toEqual([100, 80, 24576, 4]);
  });

  it('emits a model kernel graph with conv kernels only, bridging pools and losses', () => {
    const machine = customMachine();
    const kg = lower(resnetBlockGraph('train'), machine);
    const k = kernelGraphToKgraph(kg, machine, 'block');
    const text = writeKgraph(k);
    const back = parseKgraph(text);
    expect(back.nodes.filter((n) => n.kind === 'conv')).toHaveLength(kg.kernels.filter((x) => x.spec.kind === 'conv').length);
    expect(back.nodes.filter((n) => n.kind === 'input').map((n) => n.name)).toEqual(['features/image']);
    // the dense classifier is fed by the last conv, bypassing the global pool
    const byId = new Map(back.nodes.map((n) => [n.id, n.name]));
    expect(back.edges.map((e) => [byId.get(e.from), byId.get(e.to)])).toContainEqual(['conv2d_5', 'dense']);
    expect(back.nodes.some((n) => n.kind === 'output')).toBe(true);
    expect([back.width, back.height, back.memlimit]).toEqual([757, 996, 24576]);
  });

  it('fixtures emitted from the examples parse', () => {
    for (const f of ['compiler-resnet50', 'compiler-alexnet_params']) {
      const k = parseKgraph(fs.readFileSync(new URL(`../fixtures/${f}.kgraph`, import.meta.url), 'utf8'), f);
      expect(k.nodes.filter((n) => n.kind === 'conv').length).toBeGreaterThan(5);
    }
  });
});

describe('paint', () => {
  it('writes definitions and placements and parses them back', () => {
    const base = { op: 'conv', layers: [], copies: 3 as const, paramWords: 0, width: 1, height: 1, cyclesPerSample: 1, memoryWordsPerPe: 1 };
    const ks: PlacedKernel[] = [
      { ...base, name: 'k1', spec: { kind: 'conv', H: 28, W: 28, R: 3, S: 3, C: 64, K: 64, T: 1, U: 1, epilogueOps: 0 }, exec: { h: 2, w: 3, c: 4, k: 5 }, x: 10, y: 20, rotation: 'R0' },
      { ...base, name: 'k2', spec: { kind: 'dblock', H: 28, W: 28, F: 256 }, exec: { h: 1, w: 2, c1: 3, c2: 4, c3: 5, k1: 6, k2: 7, k3: 8 }, x: 0, y: 0, rotation: 'R90' },
    ];
    const text = writePaint(ks);
    expect(text).toContain('k1 = conv( 28 28 64 64 3 3 1 1 2 3 4 5 )');
    expect(text).toContain('k2 = dblock( 28 28 256 1 2 3 4 5 6 7 8 )');
    expect(text).toContain('k2 : place(0 0 R90)');
    expect(parsePaint(text).map((p) => [p.name, p.kind, p.x, p.y, p.rotation])).toEqual([
      ['k1', 'conv', 10, 20, 'R0'],
      ['k2', 'dblock', 0, 0, 'R90'],
    ]);
    expect(() => parsePaint('k1 : place(1 2 R45)', 'x.paint')).toThrow(/x\.paint:1: cannot parse/);
    expect(() => parsePaint('k1 : place(1 2 R0)', 'x.paint')).toThrow(/x\.paint:1: kernel 'k1' is placed but not defined/);
  });
});
