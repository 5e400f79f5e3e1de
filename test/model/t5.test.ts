// The whole model against an independent PyTorch reference (test/fixtures/t5, see its README):
// logits, loss, hidden states and every parameter gradient, for a ReLU and a gated-GELU config.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { fromHFConfig } from '../../model/config.ts';
import { readSafetensors } from '../../model/safetensors.ts';
import { bucketGrid, relativePositionBucket } from '../../model/position.ts';
import { T5 } from '../../model/t5.ts';
import { beamDecode, greedyDecode } from '../../model/decode.ts';
import { expectClose, setupEngine } from '../helpers.ts';

beforeAll(setupEngine);

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/t5');

function fixture(name: string) {
  const dir = path.join(FIXTURES, name);
  const config = fromHFConfig(JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')));
  const weights = readSafetensors(readFileSync(path.join(dir, 'model.safetensors')), `${name}/model.safetensors`);
  const grads = readSafetensors(readFileSync(path.join(dir, 'grads.safetensors')), `${name}/grads.safetensors`);
  const ref = JSON.parse(readFileSync(path.join(dir, 'reference.json'), 'utf8'));
  return { config, weights, grads, ref };
}

function batchOf(ref: any) {
  const [B, Ls] = [ref.input_ids.length, ref.input_ids[0].length];
  const Lt = ref.labels[0].length;
  return {
    inputIds: E.tensor(ref.input_ids.flat(), [B, Ls], 'i32'),
    attentionMask: E.tensor(ref.attention_mask.flat(), [B, Ls]),
    decoderInputIds: E.tensor(ref.decoder_input_ids.flat(), [B, Lt], 'i32'),
    labels: E.tensor(ref.labels.flat(), [B, Lt], 'i32'),
  };
}

for (const name of ['tiny-relu', 'tiny-gated']) {
  describe(`T5 ${name} against PyTorch`, () => {
    const { config, weights, grads, ref } = fixture(name);

    it('relative position buckets match', () => {
      const t = ref.bucket_table;
      t.relative_position.forEach((rp: number, i: number) => {
        expect(relativePositionBucket(rp, true, config.relativeAttentionNumBuckets, config.relativeAttentionMaxDistance)).toBe(t.bidirectional[i]);
        expect(relativePositionBucket(rp, false, config.relativeAttentionNumBuckets, config.relativeAttentionMaxDistance)).toBe(t.unidirectional[i]);
      });
      const Ls = ref.input_ids[0].length;
      expect(Array.from(bucketGrid(Ls, Ls, 0, true, config.relativeAttentionNumBuckets, config.relativeAttentionMaxDistance))).toEqual(ref.position_buckets.encoder.flat());
    });

    it('logits, hidden states, loss and all parameter gradients match', async () => {
      const model = T5.fromSafetensors(config, weights);
      const batch = batchOf(ref);
      const { logits, enc, dec, loss } = E.tidy(() => {
        const enc = model.encode(batch.inputIds, batch.attentionMask);
        const dec = model.decode(batch.decoderInputIds, enc, batch.attentionMask);
        const logits = model.head(dec);
        const [B, Lt, V] = logits.shape;
        const loss = E.crossEntropy(E.reshape(logits, [B * Lt, V]), E.reshape(batch.labels, [B * Lt]));
        E.backward(loss);
        return { logits, enc, dec, loss };
      });
      expect(logits.shape).toEqual(ref.logits_shape);
      expectClose(await enc.toArray(), ref.encoder_last_hidden_state.flat(2), 1e-4, 1e-5, 'encoder output');
      expectClose(await dec.toArray(), ref.decoder_last_hidden_state.flat(2), 1e-4, 1e-5, 'decoder output');
      expectClose(await logits.toArray(), ref.logits.flat(2), 1e-4, 1e-5, 'logits');
      expectClose([await loss.item()], [ref.loss], 1e-5, 1e-6, 'loss');
      expect(grads.names().sort()).toEqual([...model.params.keys()].sort());
      for (const [pname, p] of model.params) {
        expectClose(await p.grad!.toArray(), grads.getF32(pname), 2e-3, 2e-5, `d loss / d ${pname}`);
      }
      model.dispose();
    });

    it('greedy decoding matches the reference, with and without the KV cache', async () => {
      const model = T5.fromSafetensors(config, weights);
      // the reference decodes each source unpadded
      const sources = ref.input_ids.map((row: number[], b: number) => row.filter((_: number, i: number) => ref.attention_mask[b][i] === 1));
      const o = { maxNewTokens: ref.greedy.max_new_tokens };
      const cached = await greedyDecode(model, sources, o);
      const uncached = await greedyDecode(model, sources, { ...o, useCache: false });
      expect(cached).toEqual(ref.greedy.sequences);
      expect(uncached).toEqual(cached);
      const beam1 = await beamDecode(model, sources, { ...o, numBeams: 1 });
      expect(beam1).toEqual(cached);
      const beam3 = await beamDecode(model, sources, { ...o, numBeams: 3 });
      const beam3NoCache = await beamDecode(model, sources, { ...o, numBeams: 3, useCache: false });
      expect(beam3).toEqual(beam3NoCache);
      model.dispose();
    });
  });
}

describe('checkpoint problems', () => {
  const { config, weights } = fixture('tiny-relu');
  it('name every missing or misshapen tensor', () => {
    const bad = { ...config, dFf: 20, numDecoderLayers: 3 };
    expect(() => T5.fromSafetensors(bad, weights)).toThrow(/decoder\.block\.2\.layer\.0\.SelfAttention\.q\.weight[\s\S]*encoder\.block\.0\.layer\.1\.DenseReluDense\.wi\.weight/);
  });
  it('a truncated file fails cleanly', () => {
    const bytes = readFileSync(path.join(FIXTURES, 'tiny-relu/model.safetensors'));
    expect(() => readSafetensors(bytes.subarray(0, bytes.length - 100), 'cut.safetensors')).toThrow(/cut\.safetensors/);
  });
});
