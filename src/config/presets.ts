/**
 * Provider presets: the only place (with dialects/) where provider names appear. A preset fills in
 * the base URL, the environment variable that holds its key, and the dialect quirks it needs.
 */
export interface Preset {
  readonly baseUrl: string;
  /** Environment variable that holds the key; with no config file it becomes a provider. */
  readonly keyEnv?: string;
  /** Dialect quirks, by name (see dialects/openai/quirks.ts). */
  readonly quirks?: readonly string[];
  /** A model to use when the provider lists none. */
  readonly defaultModel?: string;
  /** Local servers usually need no key. */
  readonly keyless?: boolean;
}

export const presets: Readonly<Record<string, Preset>> = {
  openai: { baseUrl: 'https://api.openai.com/v1', keyEnv: 'OPENAI_API_KEY', defaultModel: 'gpt-4o-mini' },
  openrouter: { baseUrl: 'https://openrouter.ai/api/v1', keyEnv: 'OPENROUTER_API_KEY', quirks: ['openrouter'], defaultModel: 'openrouter/free' },
  groq: { baseUrl: 'https://api.groq.com/openai/v1', keyEnv: 'GROQ_API_KEY', defaultModel: 'llama-3.1-8b-instant' },
  deepseek: { baseUrl: 'https://api.deepseek.com/v1', keyEnv: 'DEEPSEEK_API_KEY', defaultModel: 'deepseek-chat' },
  gemini: { baseUrl: 'https://generativelanguage.googleapis.com/v1beta/openai', keyEnv: 'GEMINI_API_KEY', defaultModel: 'gemini-2.0-flash' },
  mistral: { baseUrl: 'https://api.mistral.ai/v1', keyEnv: 'MISTRAL_API_KEY', defaultModel: 'mistral-small-latest' },
  siliconflow: { baseUrl: 'https://api.siliconflow.cn/v1', keyEnv: 'SILICONFLOW_API_KEY', defaultModel: 'Qwen/Qwen2.5-7B-Instruct' },
  chutes: { baseUrl: 'https://llm.chutes.ai/v1', keyEnv: 'CHUTES_API_KEY' },
  together: { baseUrl: 'https://api.together.xyz/v1', keyEnv: 'TOGETHER_API_KEY' },
  cerebras: { baseUrl: 'https://api.cerebras.ai/v1', keyEnv: 'CEREBRAS_API_KEY', defaultModel: 'llama3.1-8b' },
  ollama: { baseUrl: 'http://127.0.0.1:11434/v1', keyless: true },
  lmstudio: { baseUrl: 'http://127.0.0.1:1234/v1', keyless: true },
};

/** Env vars that, with no config file, each become a provider of their preset (SPEC §2). */
export function envKeyPresets(): Array<[name: string, preset: Preset]> {
  return Object.entries(presets).filter(([, p]) => p.keyEnv !== undefined);
}

/** Dialect types that are not presets but are valid `type` values. */
export const dialectTypes = ['openai', 'anthropic'] as const;

/**
 * The multi-free-API proxy V3's hard-coded provider table (seed-formats §1.3), for `llmux import
 * env-v3`: which base URL and model each FREE<n> variable meant, and named key variables.
 */
export const envV3Table = {
  "fixed": {
    "free1": {
      "baseUrl": "https://openrouter.ai",
      "preset": "openrouter",
      "model": "openrouter/free",
      "useProxy": true
    },
    "free2": {
      "baseUrl": "https://api.chatanywhere.tech",
      "model": "gpt-3.5-turbo"
    },
    "free3": {
      "baseUrl": "https://free.v36.cm",
      "model": "gpt-3.5-turbo"
    },
    "free4": {
      "baseUrl": "https://api.mistral.ai",
      "preset": "mistral",
      "model": "mistral-small-latest"
    }
  },
  "namedKeys": {
    "OPENROUTER_API_KEY": {
      "id": "openrouter",
      "preset": "openrouter",
      "model": "openrouter/free",
      "useProxy": true
    }
  }
} as const;

/** FailProxy `type` values that carry provider behaviour (seed-formats §4), for `llmux import failproxy`. */
export const failproxyTypes: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  "openrouter": {
    "type": "openrouter",
    "reasoning": "include",
    "reasoningField": "reasoning_content"
  }
};
