// Model command line:
//   npx tsx model/cli.ts logits   --checkpoint DIR --input-ids 1,2,3 --decoder-input-ids 0,5
//       prints the logits [decoder length][vocab] as one JSON array of arrays
//   npx tsx model/cli.ts generate --checkpoint DIR --text "..." [--max-new-tokens 64] [--beams 4]
//       prints the generated text
// DIR is a Hugging Face T5 directory (config.json, model.safetensors, and spiece.model or our
// tokenizer.json), a checkpoint written by this project's training, or a Hub reference
// hf:OWNER/NAME[@REVISION] (downloaded into the Hugging Face cache; see model/hub.ts).

import * as E from '../engine/index.ts';
import { optionHelp, parseOptions, UsageError, type OptionSpecs } from '../util/args.ts';
import { endOutputQuietlyOnEpipe } from '../util/stdio.ts';
import { loadModel } from './checkpoint.ts';
import { beamDecode, greedyDecode } from './decode.ts';
import { readCheckpoint } from './hub.ts';

const checkpoint = { type: 'string', required: true, help: 'checkpoint folder' } as const;
const LOGITS = {
  checkpoint,
  'input-ids': { type: 'string', required: true, help: 'encoder token ids, comma-separated' },
  'decoder-input-ids': { type: 'string', required: true, help: 'decoder token ids, comma-separated' },
} satisfies OptionSpecs;
const GENERATE = {
  checkpoint,
  text: { type: 'string', required: true, help: 'source text' },
  'max-new-tokens': { type: 'int', min: 1, help: 'most tokens to generate (default 128)' },
  beams: { type: 'int', min: 1, help: 'beam width; 1 decodes greedily (default 1)' },
} satisfies OptionSpecs;
const COMMANDS = { logits: LOGITS, generate: GENERATE };

/** Token ids written as "1,2,3": decimal non-negative integers, none missing. */
function ids(value: string, flag: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const bad = parts.findIndex((s) => !/^\d+$/.test(s));
  if (bad >= 0) {
    const what = parts[bad] === '' ? 'an empty item' : JSON.stringify(parts[bad]);
    throw new UsageError(`--${flag} must be comma-separated non-negative decimal integers, got ${what} at position ${bad + 1} of ${JSON.stringify(value)}`);
  }
  return parts.map(Number);
}

async function open(dir: string) {
  const files = await readCheckpoint(dir);
  await E.initEngine();
  return loadModel(files, dir);
}

async function logits(o: { checkpoint: string; 'input-ids': string; 'decoder-input-ids': string }): Promise<void> {
  const src = ids(o['input-ids'], 'input-ids');
  const dec = ids(o['decoder-input-ids'], 'decoder-input-ids');
  const { model } = await open(o.checkpoint);
  const V = model.config.vocabSize;
  for (const [flag, list] of [['input-ids', src], ['decoder-input-ids', dec]] as const) {
    const id = list.find((x) => x >= V);
    if (id !== undefined) throw new UsageError(`--${flag}: token id ${id} is outside the vocabulary of ${o.checkpoint} (ids 0-${V - 1})`);
  }
  const out = E.noGrad(() =>
    E.tidy(() =>
      model.forward({
        inputIds: E.tensor(src, [1, src.length], 'i32'),
        attentionMask: E.ones([1, src.length]),
        decoderInputIds: E.tensor(dec, [1, dec.length], 'i32'),
      }),
    ),
  );
  const v = await out.toArray();
  const at = v.findIndex((x) => !Number.isFinite(x));
  if (at >= 0) throw new Error(`${o.checkpoint}: logit ${at % V} at decoder position ${Math.floor(at / V)} is ${v[at]} (float32 overflow in the model)`);
  console.log(JSON.stringify(Array.from({ length: dec.length }, (_, t) => Array.from(v.subarray(t * V, (t + 1) * V)))));
}

async function generate(o: { checkpoint: string; text: string; 'max-new-tokens'?: number; beams?: number }): Promise<void> {
  // An empty source is only </s>: a model answers it with whatever it learnt last, not an error.
  if (o.text.trim() === '') throw new UsageError('--text is empty; give the source text to generate from');
  const { model, tokenizer } = await open(o.checkpoint);
  if (!tokenizer) throw new Error(`${o.checkpoint} has no tokenizer (spiece.model or tokenizer.json)`);
  const maxNewTokens = o['max-new-tokens'] ?? 128;
  const beams = o.beams ?? 1;
  const source = [tokenizer.encode(o.text, { addEos: true })];
  const [out] = beams > 1 ? await beamDecode(model, source, { maxNewTokens, numBeams: beams }) : await greedyDecode(model, source, { maxNewTokens });
  console.log(tokenizer.decode(out, { skipSpecial: true }));
}

function usage(): string {
  return Object.entries(COMMANDS)
    .map(([name, specs]) => [`usage: model/cli.ts ${name} [options]`, ...optionHelp(specs)].join('\n'))
    .join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'logits') await logits(parseOptions(rest, LOGITS, 'logits').values);
    else if (command === 'generate') await generate(parseOptions(rest, GENERATE, 'generate').values);
    else throw new UsageError(command === undefined ? 'no command given' : `unknown command ${JSON.stringify(command)}; valid commands: ${Object.keys(COMMANDS).join(', ')}`);
    return 0;
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    if (e instanceof UsageError) {
      console.error(usage());
      return 2;
    }
    return 1;
  }
}

endOutputQuietlyOnEpipe();
// An open WebGPU device keeps the event loop alive, so leave explicitly.
process.exit(await main(process.argv.slice(2)));
