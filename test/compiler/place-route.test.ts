import { describe, expect, it } from 'vitest';
import { addRouteLoad, busiestLink, centreDistance, lanePoints, linkLoads } from '../../compiler/fabric.ts';
import type { KernelEdge, PlacedGraph, PlacedKernel, Route, SizedGraph } from '../../compiler/ir.ts';
import { lower } from '../../compiler/passes/lower.ts';
import { customMachine } from '../../compiler/machine.ts';
import { checkPlacement, place, wirelength } from '../../compiler/passes/place.ts';
import { candidateRoutes, route } from '../../compiler/passes/route.ts';
import { size } from '../../compiler/passes/floorplan.ts';
import { mnistGraph, resnetBlockGraph } from './helpers/graphs.ts';

const machine = customMachine({ fabric: { width: 200, height: 150 } });

describe('place', () => {
  it('lays rows out legally and snakes: consecutive kernels of a chain touch', () => {
    const sg = size(lower(mnistGraph('train'), machine), machine);
    const pg = place(sg, machine);
    expect(checkPlacement(pg.kernels, machine)).toEqual([]);
    // in a chain, each kernel shares a side (or a corner region) with its successor
    const order = sg.floorplan.rows.flatMap((r) => r.kernels.map((k) => k.name));
    const by = new Map(pg.kernels.map((k) => [k.name, k]));
    for (let i = 0; i + 1 < order.length; i++) {
      const a = by.get(order[i])!;
      const b = by.get(order[i + 1])!;
      const gapX = Math.max(0, Math.max(a.x, b.x) - Math.min(a.x + a.width, b.x + b.width));
      const gapY = Math.max(0, Math.max(a.y, b.y) - Math.min(a.y + a.height, b.y + b.height));
      expect(gapX + gapY, `${a.name} → ${b.name}`).toBe(0);
    }
    expect(pg.wirelength).toBe(wirelength(pg.kernels, pg.edges));
  });

  it('maps a transposed floorplan back onto the fabric', () => {
    const kg = lower(resnetBlockGraph('eval'), machine);
    for (const orientation of ['rows', 'cols'] as const) {
      const sg = size(kg, machine, { orientation });
      expect(sg.floorplan.transposed).toBe(orientation === 'cols');
      const pg = place(sg, machine);
      expect(checkPlacement(pg.kernels, machine)).toEqual([]);
    }
  });

  it('checkPlacement reports overlap, out-of-fabric, wrong footprint and memory', () => {
    const pg = place(size(lower(mnistGraph('eval'), machine), machine), machine);
    const ks = pg.kernels.map((k) => ({ ...k }));
    ks[1].x = ks[0].x;
    ks[1].y = ks[0].y;
    ks[2].x = 199;
    ks[3].width += 1;
    const v = checkPlacement(ks, machine).join('\n');
    expect(v).toMatch(/overlap/);
    expect(v).toMatch(/outside/);
    expect(v).toMatch(/footprint/);
    const tight = customMachine({ fabric: machine.fabric, sramBytesPerPe: 16 });
    expect(checkPlacement(pg.kernels, tight).join('\n')).toMatch(/words per PE, more than 8/);
  });
});

describe('route', () => {
  const k = (name: string, x: number, y: number, width: number, height: number): PlacedKernel =>
    ({ name, x, y, width, height, rotation: 'R0', op: 'e', layers: [], spec: { kind: 'eltwise', N: 1, arity: 1, opsPerElement: 1 }, copies: 1, paramWords: 0, exec: { h: 1, w: 1 }, cyclesPerSample: 1, memoryWordsPerPe: 1 });
  const e = (from: string, to: string, bytes: number, external = false): KernelEdge => ({ from, to, tensor: `${from}:0`, shape: [bytes / 2], bytesPerSample: bytes, external, backward: !external });

  it('lane endpoints lie in the source and destination, lanes split the bytes', () => {
    const a = k('a', 0, 0, 10, 6);
    const b = k('b', 20, 10, 4, 8);
    for (const r of candidateRoutes(e('a', 'b', 96), a, b)) {
      expect(r.lanes).toBe(r.order === 'HV' ? Math.min(6, 4) : Math.min(10, 8));
      for (let i = 0; i < r.lanes; i++) {
        const [s, , t] = lanePoints(r, i);
        expect(s[0] >= 0 && s[0] < 10 && s[1] >= 0 && s[1] < 6).toBe(true);
        expect(t[0] >= 20 && t[0] < 24 && t[1] >= 10 && t[1] < 18).toBe(true);
      }
    }
  });

  it('counts forward bytes one way and TRAIN gradients the other way; busiest link found', () => {
    const r: Route = { from: 'a', to: 'b', tensor: 't', bytesPerSample: 40, external: false, backward: true, order: 'HV', start: [0, 0], end: [3, 2], lanes: 2, firstTrack: 0, secondTrack: 2, hops: 5 };
    // lane 0: (0,0) → (3,0) → (3,2); lane 1: (0,1) → (2,1) → (2,2)
    expect(lanePoints(r, 0)).toEqual([[0, 0], [3, 0], [3, 2]]);
    expect(lanePoints(r, 1)).toEqual([[0, 1], [2, 1], [2, 2]]);
    const W = 5;
    const fwd = linkLoads([r], W, 5, false);
    expect(fwd.reduce((s, x) => s + x, 0)).toBe(20 * 5 + 20 * 3);
    expect(fwd[(0 * W + 0) * 4 + 0]).toBe(20); // (0,0) east
    expect(fwd[(0 * W + 1) * 4 + 1]).toBe(0); // no west traffic forward
    const both = new Float64Array(W * 5 * 4);
    addRouteLoad(both, r, W, true);
    expect(both[(0 * W + 1) * 4 + 1]).toBe(20); // gradient (1,0) west
    expect(busiestLink(both, W)).toMatchObject({ bytesPerSample: 20 });
    expect(busiestLink(new Float64Array(8), 1)).toBeNull();
  });

  it('multicasts one producer\'s tensor over shared links; different tensors and gradients add up', () => {
    const r = (to: string, tensor: string, endY: number): Route => ({ from: 'a', to, tensor, bytesPerSample: 40, external: false, backward: true, order: 'HV', start: [0, 0], end: [4, endY], lanes: 1, firstTrack: 0, secondTrack: 4, hops: 4 + endY });
    const W = 6;
    const east00 = (0 * W + 0) * 4 + 0;
    const west10 = (0 * W + 1) * 4 + 1;
    const same = linkLoads([r('b', 'a:0', 2), r('c', 'a:0', 3)], W, 6, true);
    expect(same[east00]).toBe(40); // one copy of a:0 on the shared leg
    expect(same[west10]).toBe(80); // two gradients
    const diff = linkLoads([r('b', 'a:0', 2), r('c', 'a:1', 3)], W, 6, false);
    expect(diff[east00]).toBe(80);
  });

  it('routes every edge of a placed graph, inputs from the west edge, and spreads parallel flows', () => {
    const pg: PlacedGraph = {
      formatVersion: 1, mode: 'train', nodeKernel: {}, targetCycles: 1, areaBoundCycles: 1, wirelength: 0,
      floorplan: { transposed: false, rows: [] },
      kernels: [k('a', 10, 0, 8, 8), k('b', 30, 0, 8, 8), k('c', 30, 20, 8, 8)],
      edges: [e('features/x', 'a', 160, true), e('a', 'b', 800), e('a', 'c', 800)],
    } as PlacedGraph & SizedGraph;
    const rg = route(pg, customMachine({ fabric: { width: 50, height: 40 } }));
    expect(rg.routes.map((r) => [r.from, r.to, r.external])).toEqual([
      ['features/x', 'a', true],
      ['a', 'b', false],
      ['a', 'c', false],
    ]);
    expect(lanePoints(rg.routes[0], 0)[0][0]).toBe(0);
    // two 800-byte flows of 8 lanes each: 100 bytes per lane; congestion-aware routing keeps them from
    // sharing a link (which would carry 200); the input's 20 bytes per lane may cross one of them inside a
    const busiest = rg.busiestLink!.bytesPerSample;
    expect(busiest).toBeGreaterThanOrEqual(100);
    expect(busiest).toBeLessThanOrEqual(120);
    expect(centreDistance(pg.kernels[0], pg.kernels[1])).toBe(20);
  });
});
