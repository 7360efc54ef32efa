/**
 * Conversions between the stream and non-stream shapes, used only when a provider forces one
 * (`stream: true|false`) that the caller did not ask for, and for debug captures. Pure.
 */

interface ToolCallAcc {
  id?: string;
  type?: string;
  function: { name: string; arguments: string };
}

interface ChoiceAcc {
  index: number;
  role: string;
  content: string;
  text: string;
  reasoning: string;
  /** The name the upstream used for reasoning (`reasoning_content`, or OpenRouter's `reasoning`); kept as sent. */
  reasoningKey: 'reasoning' | 'reasoning_content';
  toolCalls: ToolCallAcc[];
  finishReason: string | null;
}

/** Accumulates parsed `chat.completion.chunk` / `text_completion` chunks into one response. */
export class StreamAssembler {
  #id = '';
  #model = '';
  #created = 0;
  #object = 'chat.completion.chunk';
  #fingerprint: unknown = undefined;
  #usage: unknown = undefined;
  #choices = new Map<number, ChoiceAcc>();

  add(chunk: Record<string, unknown>): void {
    if (typeof chunk.id === 'string' && !this.#id) this.#id = chunk.id;
    if (typeof chunk.model === 'string' && !this.#model) this.#model = chunk.model;
    if (typeof chunk.created === 'number' && !this.#created) this.#created = chunk.created;
    if (typeof chunk.object === 'string') this.#object = chunk.object;
    if (chunk.system_fingerprint !== undefined) this.#fingerprint = chunk.system_fingerprint;
    if (chunk.usage) this.#usage = chunk.usage;
    const choices = Array.isArray(chunk.choices) ? (chunk.choices as Array<Record<string, unknown>>) : [];
    for (const c of choices) this.#addChoice(c);
  }

  #addChoice(c: Record<string, unknown>): void {
    const index = typeof c.index === 'number' ? c.index : 0;
    let acc = this.#choices.get(index);
    if (!acc) {
      acc = { index, role: 'assistant', content: '', text: '', reasoning: '', reasoningKey: 'reasoning_content', toolCalls: [], finishReason: null };
      this.#choices.set(index, acc);
    }
    if (typeof c.text === 'string') acc.text += c.text;
    if (typeof c.finish_reason === 'string') acc.finishReason = c.finish_reason;
    const d = c.delta as Record<string, unknown> | undefined;
    if (!d) return;
    if (typeof d.role === 'string') acc.role = d.role;
    if (typeof d.content === 'string') acc.content += d.content;
    if (typeof d.reasoning_content === 'string') acc.reasoning += d.reasoning_content;
    else if (typeof d.reasoning === 'string') {
      if (acc.reasoning === '') acc.reasoningKey = 'reasoning';
      acc.reasoning += d.reasoning;
    }
    if (Array.isArray(d.tool_calls)) {
      for (const tc of d.tool_calls as Array<Record<string, unknown>>) {
        const i = typeof tc.index === 'number' ? tc.index : acc.toolCalls.length;
        const slot = (acc.toolCalls[i] ??= { function: { name: '', arguments: '' } });
        if (typeof tc.id === 'string') slot.id = tc.id;
        if (typeof tc.type === 'string') slot.type = tc.type;
        const f = tc.function as Record<string, unknown> | undefined;
        if (typeof f?.name === 'string') slot.function.name += f.name;
        if (typeof f?.arguments === 'string') slot.function.arguments += f.arguments;
      }
    }
  }

  get usage(): unknown {
    return this.#usage;
  }

  /** The assembled non-stream response. */
  result(): Record<string, unknown> {
    const legacy = this.#object === 'text_completion';
    const choices = [...this.#choices.values()].sort((a, b) => a.index - b.index).map((c) => {
      if (legacy) return { index: c.index, text: c.text, logprobs: null, finish_reason: c.finishReason };
      const message: Record<string, unknown> = { role: c.role, content: c.toolCalls.length > 0 && c.content === '' ? null : c.content };
      if (c.reasoning) message[c.reasoningKey] = c.reasoning;
      if (c.toolCalls.length > 0) message.tool_calls = c.toolCalls.map((t) => ({ id: t.id, type: t.type ?? 'function', function: t.function }));
      return { index: c.index, message, logprobs: null, finish_reason: c.finishReason };
    });
    const out: Record<string, unknown> = {
      id: this.#id,
      object: legacy ? 'text_completion' : 'chat.completion',
      created: this.#created,
      model: this.#model,
      choices,
    };
    if (this.#fingerprint !== undefined) out.system_fingerprint = this.#fingerprint;
    if (this.#usage !== undefined) out.usage = this.#usage;
    return out;
  }
}

/**
 * A non-stream chat.completion (or legacy text_completion) as the SSE events a stream would have
 * carried.
 */
export function completionToEvents(resp: Record<string, unknown>, includeUsage: boolean): string {
  const legacy = resp.object === 'text_completion';
  const base = { id: resp.id, object: legacy ? 'text_completion' : 'chat.completion.chunk', created: resp.created, model: resp.model, system_fingerprint: resp.system_fingerprint };
  const choices = Array.isArray(resp.choices) ? (resp.choices as Array<Record<string, unknown>>) : [];
  let out = '';
  const emit = (o: unknown): void => {
    out += `data: ${JSON.stringify(o)}\n\n`;
  };
  for (const c of choices) {
    if (legacy) {
      emit({ ...base, choices: [{ index: c.index ?? 0, text: c.text ?? '', logprobs: null, finish_reason: null }] });
      emit({ ...base, choices: [{ index: c.index ?? 0, text: '', logprobs: null, finish_reason: c.finish_reason ?? 'stop' }] });
      continue;
    }
    const m = (c.message ?? {}) as Record<string, unknown>;
    const delta: Record<string, unknown> = { role: m.role ?? 'assistant', content: m.content ?? '' };
    if (m.tool_calls) delta.tool_calls = (m.tool_calls as unknown[]).map((t, i) => ({ index: i, ...(t as object) }));
    // Everything else the message carries (reasoning under whatever name, refusal, annotations) goes along.
    for (const [k, v] of Object.entries(m)) if (!(k in delta) && k !== 'tool_calls' && v !== undefined) delta[k] = v;
    emit({ ...base, choices: [{ index: c.index ?? 0, delta, logprobs: null, finish_reason: null }] });
    emit({ ...base, choices: [{ index: c.index ?? 0, delta: {}, logprobs: null, finish_reason: c.finish_reason ?? 'stop' }] });
  }
  if (includeUsage && resp.usage) emit({ ...base, choices: [], usage: resp.usage });
  out += 'data: [DONE]\n\n';
  return out;
}
