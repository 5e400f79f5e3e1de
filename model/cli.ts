// Model command line:
//   npx tsx model/cli.ts logits   --checkpoint DIR --input-ids 1,2,3 --decoder-input-ids 0,5
//       prints the logits [decoder length][vocab] as one JSON array of arrays
//   npx tsx model/cli.ts generate --checkpoint DIR --text "..." [--max-new-tokens 64] [--beams 4]
//       prints the generated text
// DIR is a Hugging Face T5 directory (config.json, model.safetensors, and spiece.model or our
// tokenizer.json), a checkpoint written by this project's training, or a Hub reference
// hf:OWNER/NAME[@REVISION] (downloaded into the Hugging Face cache; see model/hub.ts).

import * as E from '../engine/index.ts';
import { loadModel } from './checkpoint.ts';
import { beamDecode, greedyDecode } from './decode.ts';
import { readCheckpoint } from './hub.ts';

const COMMANDS: Record<string, { options: string[]; run: (o: Record<string, string>) => Promise<void> }> = {
  logits: { options: ['checkpoint', 'input-ids', 'decoder-input-ids'], run: logits },
  generate: { options: ['checkpoint', 'text', 'max-new-tokens', 'beams'], run: generate },
};

function ids(value: string, flag: string): number[] {
  const out = value.split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new Error(`--${flag} must be comma-separated non-negative integers, got "${value}"`);
  }
  return out;
}

async function open(o: Record<string, string>) {
  const dir = o.checkpoint;
  const files = await readCheckpoint(dir);
  await E.initEngine();
  return loadModel(files, dir);
}

async function logits(o: Record<string, string>): Promise<void> {
  const { model } = await open(o);
  const src = ids(o['input-ids'], 'input-ids');
  const dec = ids(o['decoder-input-ids'], 'decoder-input-ids');
  for (const id of [...src, ...dec]) {
    if (id >= model.config.vocabSize) throw new Error(`token id ${id} is outside the vocabulary (size ${model.config.vocabSize})`);
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
  const V = model.config.vocabSize;
  console.log(JSON.stringify(Array.from({ length: dec.length }, (_, t) => Array.from(v.subarray(t * V, (t + 1) * V)))));
}

async function generate(o: Record<string, string>): Promise<void> {
  const { model, tokenizer } = await open(o);
  if (!tokenizer) throw new Error(`${o.checkpoint} has no tokenizer (spiece.model or tokenizer.json)`);
  const maxNewTokens = Number(o['max-new-tokens'] ?? 128);
  const beams = Number(o.beams ?? 1);
  const source = [tokenizer.encode(o.text, { addEos: true })];
  const [out] = beams > 1 ? await beamDecode(model, source, { maxNewTokens, numBeams: beams }) : await greedyDecode(model, source, { maxNewTokens });
  console.log(tokenizer.decode(out, { skipSpecial: true }));
}

function parseArgs(argv: string[], valid: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    if (!flag.startsWith('--') || !valid.includes(flag.slice(2))) {
      throw new Error(`unknown option ${flag}; valid options: ${valid.map((v) => `--${v}`).join(', ')}`);
    }
    if (argv[i + 1] === undefined) throw new Error(`${flag} needs a value`);
    o[flag.slice(2)] = argv[i + 1];
  }
  return o;
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const cmd = COMMANDS[command];
  if (!cmd) {
    console.error(`usage: model/cli.ts <${Object.keys(COMMANDS).join('|')}> [options]`);
    process.exit(2);
  }
  try {
    const o = parseArgs(rest, cmd.options);
    const required = command === 'logits' ? cmd.options : ['checkpoint', 'text'];
    for (const r of required) if (o[r] === undefined) throw new Error(`${command} needs --${r}`);
    await cmd.run(o);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    process.exit(1);
  }
  process.exit(0);
}

await main();
