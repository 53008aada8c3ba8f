import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadParams, validateParams, UserError } from '../../index.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'csrun-params-'));
const write = (name: string, text: string) => {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  return f;
};

describe('params.yaml', () => {
  it('loads the example params with defaults filled in', () => {
    const p = loadParams(path.join(__dirname, '../../examples/mnist/configs/params.yaml'));
    expect(p.train_input.batch_size).toBe(64);
    expect(p.optimizer).toEqual({ optimizer_type: 'adam', learning_rate: 0.001 });
    expect(p.runconfig.max_steps).toBe(1875);
    expect(p.runconfig.machine).toBe('wse2');
    expect(p.eval_input.batch_size).toBe(100);
    expect(p.model).toEqual({ dropout_rate: 0.25 });
  });

  it('accepts Cerebras learning-rate schedules and case-insensitive optimizer types', () => {
    const p = validateParams({
      optimizer: {
        optimizer_type: 'SGD',
        learning_rate: [
          { scheduler: 'Linear', initial_learning_rate: 0, end_learning_rate: 0.1, steps: 100 },
          { scheduler: 'Cosine', initial_learning_rate: 0.1, decay_steps: 900, alpha: 0.01 },
        ],
      },
    }, 'p.yaml');
    expect(p.optimizer.optimizer_type).toBe('sgd');
    expect(Array.isArray(p.optimizer.learning_rate)).toBe(true);
  });

  it('names the file and key path of a misspelled key, with a suggestion', () => {
    const f = write('typo.yaml', 'runconfig:\n  max_step: 10\n');
    expect(() => loadParams(f)).toThrow(UserError);
    expect(() => loadParams(f)).toThrow(`${f}: unknown key 'runconfig.max_step' (did you mean 'runconfig.max_steps'?)`);
    expect(() => validateParams({ train_inputs: {} }, 'x.yaml')).toThrow("x.yaml: unknown key 'train_inputs' (did you mean 'train_input'?)");
  });

  it('names the key and the expected type of a mistyped value', () => {
    expect(() => validateParams({ train_input: { batch_size: 'sixty-four' } }, 'x.yaml')).toThrow(`x.yaml: 'train_input.batch_size' is invalid: expected number, received string (got string "sixty-four")`);
    expect(() => validateParams({ runconfig: { max_steps: 1.5 } }, 'x.yaml')).toThrow(/'runconfig.max_steps' is invalid: expected int/);
    expect(() => validateParams({ optimizer: { optimizer_type: 'adagrad' } }, 'x.yaml')).toThrow(/'optimizer.optimizer_type' is invalid/);
    expect(() => validateParams({ optimizer: { learning_rate: { scheduler: 'Linear', initial_learning_rate: 1 } } }, 'x.yaml')).toThrow(/'optimizer.learning_rate/);
  });

  it('runconfig.sim_level: flow by default, one of analytic | flow | wavelet', () => {
    expect(validateParams({}, 'x.yaml').runconfig.sim_level).toBe('flow');
    expect(validateParams({ runconfig: { sim_level: 'wavelet' } }, 'x.yaml').runconfig.sim_level).toBe('wavelet');
    expect(() => validateParams({ runconfig: { sim_level: 'cycle' } }, 'x.yaml')).toThrow(UserError);
    expect(() => validateParams({ runconfig: { sim_level: 'cycle' } }, 'x.yaml')).toThrow(/x\.yaml: 'runconfig\.sim_level' is invalid: .*"analytic".*"flow".*"wavelet".*\(got string "cycle"\)/);
  });

  it('reports a missing file and invalid YAML with its line', () => {
    expect(() => loadParams(path.join(tmp, 'nope.yaml'))).toThrow(/nope.yaml: cannot read params file \(ENOENT\)/);
    const f = write('bad.yaml', 'runconfig:\n  max_steps: 10\n bad: [\n');
    expect(() => loadParams(f)).toThrow(/bad.yaml: not valid YAML: .* at line \d/);
  });
});
