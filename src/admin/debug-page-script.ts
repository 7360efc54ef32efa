/**
 * The browser side of /debug, as a string for an inline `<script nonce>`: refresh the cards and the
 * provider table from the JSON views, log in with the admin key (kept in sessionStorage, sent as
 * x-admin-key), optional auto-refresh, and the chat tester. Everything it shows goes in through
 * `textContent`, never `innerHTML`, so nothing an upstream or a config says can become markup.
 */
export const debugPageScript = String.raw`
(() => {
  const $ = (id) => document.getElementById(id);
  const KEY = 'llmuxAdminKey';
  const adminHeaders = () => {
    const k = sessionStorage.getItem(KEY);
    return k ? { 'x-admin-key': k } : {};
  };
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  const showLogin = (msg) => {
    $('login').hidden = false;
    $('login-msg').textContent = msg || '';
  };
  async function getJson(path) {
    const r = await fetch(path, { headers: adminHeaders(), cache: 'no-store' });
    const body = await r.json().catch(() => null);
    if (!r.ok) {
      const err = new Error((body && body.error && body.error.message) || ('HTTP ' + r.status));
      err.status = r.status;
      throw err;
    }
    return body;
  }
  function renderCards(stats, conc) {
    const c = conc.concurrency || {};
    const values = {
      total: stats.total, success: stats.success, failed: stats.failed, timeout: stats.timeout, retry: stats.retry,
      date: stats.date, last_updated: stats.last_updated || '-', active: (c.active_requests ?? 0) + ' / ' + (c.max_concurrent ?? 0) + ' (queued ' + (c.queued_requests ?? 0) + ')',
    };
    for (const [k, v] of Object.entries(values)) {
      const node = document.querySelector('[data-k="' + k + '"]');
      if (node) node.textContent = String(v);
    }
  }
  function renderApis(apis) {
    const body = $('apis-body');
    body.replaceChildren();
    for (const [id, a] of Object.entries(apis.free_apis || {})) {
      const tr = document.createElement('tr');
      const b = a.breakers || {};
      const state = !a.enabled ? 'disabled' : a.available ? (b.open ? 'degraded' : 'ok') : 'open';
      const cells = [id + (a.name && a.name !== id ? ' (' + a.name + ')' : ''), a.api_key || '-', a.base_url, state,
        'closed ' + (b.closed || 0) + ' / open ' + (b.open || 0) + ' / half-open ' + (b['half-open'] || 0),
        a.success_count, a.failure_count, a.consecutive_failures, a.last_test_result || '-', (a.supported_models || []).join(', ')];
      cells.forEach((v, i) => tr.appendChild(el('td', v, i === 3 ? 'state-' + state : undefined)));
      body.appendChild(tr);
    }
  }
  async function refresh() {
    try {
      const [stats, apis, conc] = await Promise.all([getJson('/debug/stats'), getJson('/debug/apis'), getJson('/debug/concurrency')]);
      $('login').hidden = true;
      renderCards(stats, conc);
      renderApis(apis);
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      if (e.status === 401 || e.status === 429) showLogin(e.message);
      else $('updated').textContent = 'refresh failed: ' + e.message;
    }
  }
  let timer = null;
  $('auto').addEventListener('change', (ev) => {
    if (timer) clearInterval(timer);
    timer = ev.target.checked ? setInterval(refresh, 10000) : null;
  });
  $('refresh').addEventListener('click', refresh);
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $('admin-key').value);
    $('admin-key').value = '';
    refresh();
  });
  $('chat').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const out = $('out');
    const meta = $('chat-meta');
    out.textContent = '';
    meta.textContent = 'sending…';
    const headers = { 'content-type': 'application/json' };
    const ck = $('client-key').value.trim();
    if (ck) headers.authorization = 'Bearer ' + ck;
    const stream = $('stream').checked;
    const body = { model: $('model').value, messages: [{ role: 'user', content: $('msg').value }], stream };
    const t0 = performance.now();
    try {
      const r = await fetch('/v1/chat/completions', { method: 'POST', headers, body: JSON.stringify(body) });
      const info = 'HTTP ' + r.status + ' · provider ' + (r.headers.get('x-llmux-provider') || '-') + ' · model ' + (r.headers.get('x-llmux-model') || '-') + ' · attempts ' + (r.headers.get('x-llmux-attempts') || '-');
      meta.textContent = info;
      if (!stream || !r.ok || !r.body) {
        const j = await r.json().catch(() => null);
        const msg = j && j.choices && j.choices[0] && j.choices[0].message;
        out.textContent = msg ? (msg.content ?? '') : JSON.stringify(j, null, 2);
      } else {
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i).trim();
            buf = buf.slice(i + 1);
            if (!line.startsWith('data:')) continue;
            const data = line.slice(5).trim();
            if (data === '[DONE]') continue;
            try {
              const j = JSON.parse(data);
              if (j.error) out.textContent += '\n[error] ' + (j.error.message || JSON.stringify(j.error));
              const d = j.choices && j.choices[0] && j.choices[0].delta;
              if (d && typeof d.content === 'string') out.textContent += d.content;
            } catch { /* a partial or non-JSON line */ }
          }
        }
      }
      meta.textContent = info + ' · ' + Math.round(performance.now() - t0) + ' ms';
    } catch (e) {
      meta.textContent = 'request failed: ' + e.message;
    }
  });
  if (!$('login').hidden && sessionStorage.getItem(KEY)) refresh();
})();
`;
