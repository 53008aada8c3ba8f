/**
 * Cerebras modelzoo params files load (fixtures with the GPT-2 small, BERT-base and fc_mnist key sets, see
 * test/fixtures/modelzoo/README.md): input keys pass through to inputFn, Cerebras system keys warn once each,
 * aliases are renamed, description and predict_input are kept, optimizer.max_gradient_norm reaches the optimizer
 * (and clips by global norm), loss scaling has no effect, misspellings still fail with a did-you-mean.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadParams, optimizers, validateParams, UserError } from '../../index.ts';
import { initBackend } from '../../runtime/backend.ts';
import { IGNORED_KEYS, readParamsYaml } from '../../runtime/params.ts';
import { applyUpdate, clipByGlobalNorm } from '../../runtime/optimizers/update.ts';
import { expectClose, randn, tf } from '../fixtures/numerics-helpers.ts';

const dir = path.join(__dirname, '../fixtures/modelzoo');

/** Validates a fixture, collecting the warnings. */
function load(name: string): { params: ReturnType<typeof validateParams>; warnings: string[] } {
  const file = path.join(dir, name);
  const warnings: string[] = [];
  const params = validateParams(readParamsYaml(file), file, { warn: (m) => warnings.push(m) });
  return { params, warnings };
}

describe('modelzoo params files', () => {
  it('GPT-2 small key set: reader keys pass through, loss scaling accepted, log_summaries and enable_distributed warned', () => {
    const { params: p, warnings } = load('gpt2_small_keys.yaml');
    expect(p.train_input).toMatchObject({ data_processor: 'GptTfRecordsProcessor', vocab_size: 96, max_sequence_length: 32, repeat: true, batch_size: 8, shuffle: true });
    expect(p.eval_input.vocab_size).toBe(96);
    expect(p.model).toMatchObject({ hidden_size: 64, num_heads: 4, share_embedding_weights: true, mixed_precision: true });
    expect(p.optimizer).toEqual({ optimizer_type: 'adamw', weight_decay_rate: 0.02, learning_rate: 3e-4, loss_scaling_factor: 'dynamic' });
    expect(p.predict_input).toEqual({});
    expect(warnings).toEqual([
      `${path.join(dir, 'gpt2_small_keys.yaml')}: 'runconfig.enable_distributed' is a Cerebras system setting; csrun ignores it`,
      `${path.join(dir, 'gpt2_small_keys.yaml')}: 'optimizer.log_summaries' is a Cerebras logging setting; csrun ignores it`,
    ]);
  });

  it('BERT-base key set: max_gradient_norm, schedules, epsilon 1e-6; runtime keys warned once each; empty cs_ip is unset', () => {
    const { params: p, warnings } = load('bert_base_keys.yaml');
    expect(p.train_input.buckets).toEqual([16, 32, 48]);
    expect(p.train_input.max_predictions_per_seq).toBe(10);
    expect(p.optimizer.max_gradient_norm).toBe(2.5);
    expect(p.optimizer.epsilon).toBe(1e-6);
    expect(p.runconfig).toMatchObject({ keep_checkpoint_max: 0, max_steps: 1000, model_dir: 'model_dir' });
    expect(p.runconfig).not.toHaveProperty('mode');
    expect(p.runconfig.multireplica).toBe(true); // read: the compiler chooses the replica count
    expect(warnings.map((w) => w.replace(/^.*?: /, ''))).toEqual([
      "'runconfig.enable_distributed' is a Cerebras system setting; csrun ignores it",
      "'runconfig.mode' is not used (csrun takes the mode from its command: csrun train, eval, train_and_eval, predict or compile --validate-only); csrun ignores it",
      "'optimizer.disable_lr_steps_reset' is a Cerebras multi-phase setting; csrun's schedules count the global step; csrun ignores it",
    ]);
    const spec = optimizers.fromParams(p.optimizer).spec;
    expect(spec).toMatchObject({ name: 'adamw', epsilon: 1e-6, weightDecay: 0.01, globalClipnorm: 2.5 });
  });

  it('fc_mnist key set: top-level description', () => {
    const { params: p, warnings } = load('fc_mnist_keys.yaml');
    expect(p.description).toBe('Fully connected MNIST classifier, modelzoo fc_mnist key set');
    expect(p.train_input).toEqual({ shuffle: true, data_dir: './mnist', batch_size: 128, num_parallel_calls: 0 });
    expect(p.model.hidden_sizes).toEqual([256, 128]);
    expect(warnings).toHaveLength(1);
    expect(p.runconfig.multireplica).toBe(false);
  });

  it('loadParams warns on stderr once per file and key, even when validated twice', () => {
    const writes: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const f = path.join(dir, 'fc_mnist_keys.yaml');
      loadParams(f);
      validateParams(readParamsYaml(f), `${f} (with command-line overrides)`);
    } finally {
      process.stderr.write = orig;
    }
    expect(writes.filter((w) => w.includes('fc_mnist_keys.yaml'))).toEqual([
      `csrun: warning: ${path.join(dir, 'fc_mnist_keys.yaml')}: 'runconfig.mode' is not used (csrun takes the mode from its command: csrun train, eval, train_and_eval, predict or compile --validate-only); csrun ignores it\n`,
    ]);
  });
});

describe('modelzoo conventions', () => {
  const quiet = { warn: () => undefined };
  it('aliases tf_random_seed, checkpoint_steps, log_steps; a conflicting pair is an error', () => {
    const p = validateParams({ runconfig: { tf_random_seed: 42, checkpoint_steps: 300, log_steps: 7 } }, 'a.yaml', quiet);
    expect(p.runconfig).toMatchObject({ seed: 42, save_checkpoints_steps: 300, log_step_count_steps: 7 });
    expect(p.runconfig).not.toHaveProperty('tf_random_seed');
    expect(validateParams({ runconfig: { tf_random_seed: 5, seed: 5 } }, 'a.yaml').runconfig.seed).toBe(5);
    expect(() => validateParams({ runconfig: { tf_random_seed: 5, seed: 6 } }, 'a.yaml')).toThrow("a.yaml: 'runconfig.tf_random_seed' and 'runconfig.seed' are both given, with different values (tf_random_seed is csrun's seed)");
  });
  it('predict_input is parsed; csconfig warns as a whole; eval_steps 0 means the whole set', () => {
    const warnings: string[] = [];
    const p = validateParams({ predict_input: { batch_size: 4, data_file: 'x.tsv' }, csconfig: { use_cbfloat16: true }, runconfig: { eval_steps: 0 } }, 'b.yaml', { warn: (m) => warnings.push(m) });
    expect(p.predict_input).toEqual({ batch_size: 4, data_file: 'x.tsv' });
    expect(p.runconfig.eval_steps).toBeUndefined();
    expect(warnings).toEqual(["b.yaml: section 'csconfig' is Cerebras system configuration; csrun ignores it"]);
    expect(() => validateParams({ predict_input: { batch_size: 0 } }, 'b.yaml')).toThrow(/'predict_input.batch_size' is invalid/);
  });
  it('every listed Cerebras runtime key is accepted with one warning naming it', () => {
    for (const section of ['runconfig', 'optimizer'] as const) {
      for (const key of Object.keys(IGNORED_KEYS[section])) {
        const warnings: string[] = [];
        validateParams({ [section]: { [key]: 1 } }, 'c.yaml', { warn: (m) => warnings.push(m) });
        expect(warnings, key).toHaveLength(1);
        expect(warnings[0]).toContain(`'${section}.${key}'`);
        expect(warnings[0]).toMatch(/csrun ignores it$/);
      }
    }
  });
  it('misspelt keys still fail with a did-you-mean, in strict sections and input sections', () => {
    expect(() => validateParams({ runconfig: { tf_random_sed: 1 } }, 'd.yaml')).toThrow("d.yaml: unknown key 'runconfig.tf_random_sed' (did you mean 'runconfig.tf_random_seed'?)");
    expect(() => validateParams({ optimizer: { max_gradient_nrom: 1 } }, 'd.yaml')).toThrow("unknown key 'optimizer.max_gradient_nrom' (did you mean 'optimizer.max_gradient_norm'?)");
    expect(() => validateParams({ descriptoin: 'x' }, 'd.yaml')).toThrow("unknown key 'descriptoin' (did you mean 'description'?)");
    expect(() => validateParams({ train_input: { bacth_size: 8 } }, 'd.yaml')).toThrow(UserError);
    expect(() => validateParams({ eval_input: { batch_sise: 8 } }, 'd.yaml')).toThrow(/unknown key 'eval_input.batch_sise' \(did you mean 'eval_input.batch_size'\?\); other keys pass through to inputFn/);
    // two edits away from csrun's num_examples: a modelzoo key of its own, passed through
    expect(validateParams({ train_input: { num_samples: 10 } }, 'd.yaml').train_input.num_samples).toBe(10);
  });
  it('a list of data directories is refused clearly; a repeated YAML key keeps the last value', () => {
    expect(() => validateParams({ train_input: { data_dir: ['a', 'b'] } }, 'e.yaml')).toThrow("e.yaml: 'train_input.data_dir' is invalid: a list of 2 directories; csrun reads one data_dir (got a list)");
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-mz-')), 'dup.yaml');
    fs.writeFileSync(f, 'model:\n  precision_opt_level: 0\n  precision_opt_level: 1\n');
    const writes: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      expect(loadParams(f).model.precision_opt_level).toBe(1);
    } finally {
      process.stderr.write = orig;
    }
    expect(writes).toEqual([`csrun: warning: ${f}: key repeated at line 3; the last value is used (as PyYAML does)\n`]);
  });
  it('loss scaling values are typed: a number, "dynamic" or "tf_dynamic"', () => {
    expect(validateParams({ optimizer: { loss_scaling_factor: 128, initial_loss_scale: 65536, max_loss_scale: 2 ** 31 } }, 'f.yaml').optimizer.loss_scaling_factor).toBe(128);
    expect(() => validateParams({ optimizer: { loss_scaling_factor: 'static' } }, 'f.yaml')).toThrow(/'optimizer.loss_scaling_factor' is invalid/);
  });
});

describe('optimizer keys with numerical meaning', () => {
  it('clipByGlobalNorm scales all gradients by maxNorm / global norm (tf.clip_by_global_norm), and only above it', async () => {
    await initBackend();
    const gs = [tf.tensor(randn([3, 4], 1)), tf.tensor(randn([5], 2))];
    const norm = Math.sqrt(gs.reduce((s, g) => s + (g.dataSync() as Float32Array).reduce((a, v) => a + v * v, 0), 0));
    const { grads, globalNorm } = clipByGlobalNorm(gs, norm / 2);
    expect(globalNorm).toBeCloseTo(norm, 4);
    grads.forEach((g, i) => expectClose(g.dataSync(), (gs[i].dataSync() as Float32Array).map((v) => v / 2), 1e-6, `clipped gradient ${i}`));
    const same = clipByGlobalNorm(gs, norm * 2);
    expect(same.grads[0]).toBe(gs[0]);
    expect(clipByGlobalNorm(gs, 0).grads[1]).toBe(gs[1]);
    tf.dispose([...gs, ...grads]);
  });
  it('AdamW without bias correction (use_bias_correction: false) uses the raw moments', async () => {
    await initBackend();
    const spec = optimizers.fromParams({ optimizer_type: 'adamw', learning_rate: 0.1, use_bias_correction: false, weight_decay_rate: 0 }).spec;
    expect(spec).toMatchObject({ name: 'adamw', biasCorrection: false });
    const w = tf.tensor([1, -2]);
    const g = tf.tensor([0.5, 0.25]);
    const slots = [tf.zeros([2]), tf.zeros([2])];
    const r = applyUpdate(spec, w, g, slots, 0.1, 0);
    // m = 0.1·g, v = 0.001·g², step = lr·m/(√v + ε)
    const want = [0.5, 0.25].map((gi, i) => [1, -2][i] - (0.1 * 0.1 * gi) / (Math.sqrt(0.001 * gi * gi) + 1e-7));
    expectClose(r.value.dataSync(), want, 1e-5, 'adamw without bias correction');
    tf.dispose([w, g, ...slots, r.value, ...r.slots]);
  });
});
