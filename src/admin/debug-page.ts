/**
 * GET /debug: one self-contained HTML page (no external assets) — stats cards, the provider list with
 * breaker states, a chat tester posting to /v1/chat/completions, optional auto-refresh. Rendered
 * with the data when the request is authorised; when an admin key is set and none was sent (a
 * browser cannot send a header on navigation), the same page comes without data and asks for the key
 * (status 401). Every value put into the HTML goes through `escapeHtml`; a per-response nonce and a
 * strict Content-Security-Policy keep anything else from running.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { AdminRuntime } from './runtime.ts';
import { needsLogin } from './auth.ts';
import { debugApis, debugConcurrency, debugStats, type ApiRecord, type CallsStats } from './debug-views.ts';
import { debugPageScript } from './debug-page-script.ts';

export function escapeHtml(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const css = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{display:flex;gap:1rem;align-items:center;padding:.8rem 1.2rem;background:#1d2330;color:#fff}
header h1{font-size:1.1rem;margin:0}header .sp{flex:1}main{padding:1rem 1.2rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:.6rem}
.card{background:#fff;border-radius:6px;padding:.6rem .8rem;box-shadow:0 1px 2px #0002}
.card .l{font-size:.75rem;color:#667}.card .v{font-size:1.2rem;font-weight:600;word-break:break-all}
table{border-collapse:collapse;width:100%;background:#fff;margin-top:.4rem}
th,td{border-bottom:1px solid #e3e5ea;padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.85rem}
.state-ok{color:#0a7b34}.state-degraded{color:#b36b00}.state-open{color:#c0262d}.state-disabled{color:#888}
section{margin-bottom:1.4rem}#login{background:#fff3cd;padding:.8rem;border-radius:6px}
textarea{width:100%;min-height:4rem}pre{background:#fff;padding:.6rem;white-space:pre-wrap;min-height:2rem}
form.row{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}`;

const cardDefs: Array<[key: string, label: string]> = [
  ['total', 'Total today'], ['success', 'Success'], ['failed', 'Failed'], ['timeout', 'Timeouts'], ['retry', 'Retries'],
  ['active', 'Active / max'], ['date', 'Date'], ['last_updated', 'Last request'],
];

interface PageData {
  stats: CallsStats;
  apis: Record<string, ApiRecord>;
  active: string;
}

function cards(d: PageData | null): string {
  const v: Record<string, unknown> = d ? { ...d.stats, last_updated: d.stats.last_updated ?? '-', active: d.active } : {};
  return cardDefs.map(([k, label]) => `<div class="card"><div class="l">${escapeHtml(label)}</div><div class="v" data-k="${k}">${escapeHtml(v[k] ?? '-')}</div></div>`).join('');
}

function apiRows(d: PageData | null): string {
  if (!d) return '';
  return Object.entries(d.apis)
    .map(([id, a]) => {
      const state = !a.enabled ? 'disabled' : a.available ? (a.breakers.open > 0 ? 'degraded' : 'ok') : 'open';
      const cells = [
        id + (a.name !== id ? ` (${a.name})` : ''), a.api_key ?? '-', a.base_url, state,
        `closed ${a.breakers.closed} / open ${a.breakers.open} / half-open ${a.breakers['half-open']}`,
        a.success_count, a.failure_count, a.consecutive_failures, a.last_test_result ?? '-', a.supported_models.join(', '),
      ];
      return `<tr>${cells.map((c, i) => `<td${i === 3 ? ` class="state-${state}"` : ''}>${escapeHtml(c)}</td>`).join('')}</tr>`;
    })
    .join('');
}

function modelOptions(rt: AdminRuntime): string[] {
  const snap = rt.snapshot();
  const names = new Set<string>();
  for (const r of snap.routes.keys()) if (r !== '*') names.add(r);
  for (const m of snap.modelIndex.keys()) names.add(m);
  return [...names].slice(0, 300);
}

export function renderDebugPage(rt: AdminRuntime, d: PageData | null, nonce: string, login: boolean): string {
  const models = modelOptions(rt);
  const auth = rt.snapshot().adminKeyHash === null ? 'open to loopback (no admin key set)' : 'admin key required';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>llmux debug</title><style nonce="${nonce}">${css}</style></head>
<body><header><h1>llmux debug</h1><span>config v${escapeHtml(rt.snapshot().version)} · ${escapeHtml(auth)}</span><span class="sp"></span>
<span id="updated"></span><label><input type="checkbox" id="auto"> auto-refresh (10 s)</label><button id="refresh" type="button">Refresh</button></header>
<main>
<section id="login"${login ? '' : ' hidden'}><form id="login-form" class="row"><label>Admin key <input type="password" id="admin-key" autocomplete="current-password"></label><button type="submit">Open</button></form><p id="login-msg">${login ? 'This gateway has an admin key (server.adminKey); enter it to see the data. It stays in this tab only.' : ''}</p></section>
<section><h2>Today</h2><div class="cards" id="cards">${cards(d)}</div></section>
<section><h2>Providers</h2><table><thead><tr><th>Provider</th><th>Key</th><th>Base URL</th><th>State</th><th>Breakers</th><th>OK</th><th>Failed</th><th>Consecutive</th><th>Last result</th><th>Models</th></tr></thead>
<tbody id="apis-body">${apiRows(d)}</tbody></table></section>
<section><h2>Chat tester</h2><form id="chat"><p class="row">
<label>Model <input id="model" list="models" value="${escapeHtml(models[0] ?? '')}" required></label>
<datalist id="models">${models.map((m) => `<option value="${escapeHtml(m)}"></option>`).join('')}</datalist>
<label>Client key <input type="password" id="client-key" placeholder="none if /v1 is open" autocomplete="off"></label>
<label><input type="checkbox" id="stream"> stream</label></p>
<textarea id="msg">Hello</textarea><p><button type="submit">Send</button> <span id="chat-meta"></span></p></form><pre id="out"></pre></section>
</main><script nonce="${nonce}">${debugPageScript}</script></body></html>`;
}

export function registerDebugPage(app: FastifyInstance, rt: AdminRuntime): void {
  app.get('/debug', async (req, reply) => {
    const login = needsLogin(req);
    let data: PageData | null = null;
    if (!login) {
      const [stats, conc] = await Promise.all([debugStats(rt), debugConcurrency(rt)]);
      const c = conc.concurrency as { active_requests: number; max_concurrent: number; queued_requests: number };
      data = { stats, apis: debugApis(rt).free_apis, active: `${c.active_requests} / ${c.max_concurrent} (queued ${c.queued_requests})` };
    }
    const nonce = randomBytes(16).toString('base64');
    void reply
      .code(login ? 401 : 200)
      .header('content-security-policy', `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`)
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .type('text/html; charset=utf-8');
    return renderDebugPage(rt, data, nonce, login);
  });
}
