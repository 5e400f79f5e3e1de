// Accuracy by greedy generation: decode each source, parse the final answer from the generated
// text (the number after "Final answer:", or the bare answer when the target has no
// explanation), and compare it with the true answer.

import { greedyDecode } from '../model/decode.ts';
import type { T5 } from '../model/t5.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import type { EncodedExample } from './data.ts';

/** Turns generated text into an answer; null when none can be read. */
export type AnswerParser = (text: string) => number | null;

export interface Prediction {
  index: number;
  generated: string;
  predicted: number | null;
  answer: number;
  correct: boolean;
}

export interface EvalResult {
  accuracy: number;
  correct: number;
  total: number;
  predictions: Prediction[];
}

export async function evaluateAccuracy(
  model: T5,
  tokenizer: Tokenizer,
  examples: readonly EncodedExample[],
  parse: AnswerParser,
  o: { batchSize: number; maxNewTokens: number },
): Promise<EvalResult> {
  // Similar source lengths per batch: less padding in the encoder.
  const order = [...examples].sort((a, b) => a.source.length - b.source.length || a.index - b.index);
  const predictions: Prediction[] = [];
  for (let i = 0; i < order.length; i += o.batchSize) {
    const chunk = order.slice(i, i + o.batchSize);
    const outs = await greedyDecode(
      model,
      chunk.map((e) => e.source),
      { maxNewTokens: o.maxNewTokens },
    );
    chunk.forEach((e, j) => {
      const generated = tokenizer.decode(outs[j], { skipSpecial: true });
      const predicted = parse(generated);
      predictions.push({ index: e.index, generated, predicted, answer: e.answer, correct: predicted === e.answer });
    });
  }
  predictions.sort((a, b) => a.index - b.index);
  const correct = predictions.filter((p) => p.correct).length;
  return { accuracy: predictions.length ? correct / predictions.length : 0, correct, total: predictions.length, predictions };
}
