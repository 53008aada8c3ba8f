/**
 * The numeric backend of csrun: tfjs-core on `@tensorflow/tfjs-backend-wasm` (SIMD, one thread — Node
 * never gets the threaded build, see docs/design.md §12). Each worker thread that computes
 * calls {@link initBackend} once; it owns its own wasm instance.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

let ready: Promise<void> | undefined;

/** Recognises the rethrowing listeners Emscripten's Node glue installs in the wasm backend:
 * `process.on('unhandledRejection', function (reason) { throw reason; })` and an `uncaughtException`
 * listener that rethrows anything but `ExitStatus`. */
function isEmscriptenRethrow(fn: (...args: unknown[]) => unknown): boolean {
  const src = Function.prototype.toString.call(fn).replace(/\s+/g, ' ');
  return /^function \(reason\) \{ throw reason; \}$/.test(src) || (src.includes('ExitStatus') && src.includes('throw'));
}

function removeNewListeners(event: 'uncaughtException' | 'unhandledRejection', before: unknown[]): void {
  const current: Function[] = event === 'uncaughtException' ? process.listeners(event) : process.listeners(event);
  for (const l of current) {
    if (!before.includes(l) || isEmscriptenRethrow(l as (...args: unknown[]) => unknown)) {
      process.removeListener(event, l as (...args: unknown[]) => void);
    }
  }
}

/**
 * Makes the tfjs-core backend `wasm` (SIMD, single-threaded) and waits until it is ready. Idempotent: later
 * calls return the same promise; if another backend was selected in between (tests switch to `cpu` for
 * references) the wasm backend is selected again.
 *
 * It also removes the `uncaughtException` / `unhandledRejection` listeners that loading the wasm module
 * installs (they rethrow every error, which would bypass the CLI's own error handling).
 *
 * @throws Error if the wasm backend cannot be initialised (e.g. the `.wasm` file is missing).
 */
export function initBackend(): Promise<void> {
  if (ready && tf.getBackend() === 'wasm') return ready;
  const previous = ready;
  ready = (async () => {
    if (previous) await previous.catch(() => undefined);
    const before = {
      uncaughtException: process.listeners('uncaughtException'),
      unhandledRejection: process.listeners('unhandledRejection'),
    };
    const ok = await tf.setBackend('wasm');
    await tf.ready();
    removeNewListeners('uncaughtException', before.uncaughtException);
    removeNewListeners('unhandledRejection', before.unhandledRejection);
    if (!ok || tf.getBackend() !== 'wasm') {
      throw new Error(`could not initialise the tfjs wasm backend (active backend: ${tf.getBackend()})`);
    }
  })();
  ready.catch(() => {
    ready = undefined;
  });
  return ready;
}
