/// <reference lib="dom" />
/**
 * A sortable, filterable table of rows keyed by kernel name (the report's kernel table and the compare
 * page's delta table). Clicking a header sorts by it (again: reverse); the filter keeps rows whose text
 * contains every word typed (case-insensitive); clicking a row selects it. Cells are text only.
 */
import { el } from './util.ts';

/** One column: a header, the cell text, and the value it sorts by (numbers sort numerically, null last). */
export interface Column<R> {
  label: string;
  text: (r: R) => string;
  sort?: (r: R) => number | string | null;
  /** Right-aligned (numbers). */
  right?: boolean;
  title?: string;
}

/** A table bound to a container. */
export class KernelTable<R> {
  readonly table: HTMLTableElement;
  readonly filter: HTMLInputElement;
  private readonly body: HTMLTableSectionElement;
  private sortCol = -1;
  private sortDir = 1;
  private selected: string | null = null;
  private readonly listeners: ((key: string | null) => void)[] = [];
  private readonly zoomListeners: ((key: string) => void)[] = [];
  private readonly rowsByKey = new Map<string, HTMLTableRowElement>();

  constructor(
    container: HTMLElement,
    private readonly rows: R[],
    private readonly key: (r: R) => string,
    private readonly columns: Column<R>[],
  ) {
    const bar = el('div', 'table-bar', undefined, container);
    this.filter = el('input', 'filter', undefined, bar);
    this.filter.type = 'search';
    this.filter.placeholder = 'filter kernels (name, op, layer…)';
    const count = el('span', 'count', '', bar);
    const wrap = el('div', 'table-wrap', undefined, container);
    this.table = el('table', 'kernels', undefined, wrap);
    const head = el('tr', '', undefined, el('thead', '', undefined, this.table));
    columns.forEach((c, i) => {
      const th = el('th', c.right ? 'num' : '', c.label, head);
      if (c.title) th.title = c.title;
      th.dataset.col = String(i);
      th.addEventListener('click', () => this.sortBy(i));
    });
    this.body = el('tbody', '', undefined, this.table);
    for (const r of rows) {
      const tr = el('tr', '', undefined, this.body);
      tr.dataset.key = key(r);
      for (const c of columns) {
        const td = el('td', c.right ? 'num' : '', c.text(r), tr);
        if (td.textContent!.length > 40) td.title = td.textContent!;
      }
      tr.addEventListener('click', () => {
        this.select(this.selected === key(r) ? null : key(r), true);
        for (const f of this.listeners) f(this.selected);
      });
      tr.addEventListener('dblclick', () => {
        for (const f of this.zoomListeners) f(key(r));
      });
      this.rowsByKey.set(key(r), tr);
    }
    const update = () => {
      const words = this.filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      for (const r of rows) {
        const tr = this.rowsByKey.get(key(r))!;
        const hay = tr.textContent!.toLowerCase();
        tr.hidden = !words.every((w) => hay.includes(w));
        if (!tr.hidden) shown++;
      }
      count.textContent = `${shown} of ${rows.length} kernels`;
    };
    this.filter.addEventListener('input', update);
    update();
  }

  /** Calls `f` with the row key (or null) when the user selects a row. */
  onSelect(f: (key: string | null) => void): void {
    this.listeners.push(f);
  }

  /** Calls `f` with the row key when the user double-clicks a row (zoom to it). */
  onZoom(f: (key: string) => void): void {
    this.zoomListeners.push(f);
  }

  /** Marks a row selected (null: none); `scroll` brings it into view. */
  select(key: string | null, scroll = false): void {
    if (this.selected) this.rowsByKey.get(this.selected)?.classList.remove('selected');
    this.selected = key;
    const tr = key === null ? undefined : this.rowsByKey.get(key);
    tr?.classList.add('selected');
    if (tr && scroll) tr.scrollIntoView({ block: 'nearest' });
  }

  /** Sorts by column i (the same column again reverses the order). */
  sortBy(i: number): void {
    this.sortDir = this.sortCol === i ? -this.sortDir : 1;
    this.sortCol = i;
    const f = this.columns[i].sort ?? this.columns[i].text;
    const dir = this.sortDir;
    const sorted = [...this.rows].sort((a, b) => {
      const x = f(a);
      const y = f(b);
      if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
    for (const r of sorted) this.body.appendChild(this.rowsByKey.get(this.key(r))!);
    this.table.querySelectorAll('th').forEach((th, j) => {
      th.classList.toggle('asc', j === i && dir > 0);
      th.classList.toggle('desc', j === i && dir < 0);
    });
  }
}
