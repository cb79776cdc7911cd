/**
 * The status page of `kontor run` (issue #9): the same as `kontor status`, as one small HTML page
 * for a browser or a phone. Served by ops-server.ts behind the status token.
 *
 * - Everything is rendered here, on the server; every value from the database or the
 *   configuration passes `escapeHtml`. No external assets: styles and the one script are inline,
 *   allowed by the Content-Security-Policy through a per-response nonce.
 * - It refreshes itself: the script fetches the page's live parts (`?part=live`: the state, the
 *   time and `<main>`, no style or script) every `refreshSeconds` (not while the tab is hidden)
 *   and swaps them in, so the reader keeps their place; without JavaScript a
 *   `<meta http-equiv="refresh">` reloads the page.
 * - Responsive: one column, tables scroll sideways on a narrow screen, dark when the device is.
 */
import { OUTBOX_STATES } from '../outbox/states.js';
import { humanDuration, type Readiness, type SourceStatus, type Status } from './status.js';
import { formatTransfer } from './summary.js';

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe inside HTML elements and quoted attributes. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** Tagged template: interpolated values are escaped unless they are `Raw` (already rendered here). */
class Raw {
  constructor(readonly html: string) {}
}
function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0]!;
  values.forEach((v, i) => {
    const rendered = Array.isArray(v) ? v.map((x) => (x instanceof Raw ? x.html : escapeHtml(x))).join('') : v instanceof Raw ? v.html : escapeHtml(v);
    out += rendered + strings[i + 1]!;
  });
  return new Raw(out);
}

/** States that need a person, then states still on their way. */
const ATTENTION = new Set(['dead', 'in_doubt']);
const WAITING = new Set(['pending', 'leased', 'retry']);

function ago(iso: string, now: Date): string {
  return `${humanDuration(now.getTime() - Date.parse(iso))} ago`;
}

function time(iso: string | null, now: Date): Raw {
  if (!iso) return html`<span class="muted">never</span>`;
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC')}</time> <span class="muted">(${ago(iso, now)})</span>`;
}

function sourceRow(s: SourceStatus, now: Date): Raw {
  const lag = s.lagSeconds === null ? html`<span class="muted">${s.cursor ? 'not known' : 'no cursor yet'}</span>` : html`${humanDuration(s.lagSeconds * 1000)}`;
  const run = s.lastRun
    ? html`<span class="${s.lastRun.outcome === 'failed' ? 'bad' : ''}">${s.lastRun.outcome ?? '?'}</span> ${time(s.lastRun.finishedAt ?? s.lastRun.startedAt, now)}${s.lastRun.detail ? html`<br><small>${s.lastRun.detail}</small>` : ''}`
    : html`<span class="muted">not run yet</span>`;
  return html`<tr data-source="${s.source}">
<th scope="row">${s.source}<br><small class="muted">${s.type}, ${s.schedule}</small></th>
<td><span class="label">cursor lag</span>${lag}${s.cursor ? html`<br><small class="muted cursor">${s.cursor}</small>` : ''}</td>
<td><span class="label">last successful pull</span><span class="badge ${s.freshness.fresh ? 'ok' : 'bad'}">${s.freshness.fresh ? 'up to date' : 'overdue'}</span> ${time(s.lastSuccessAt, now)}${s.freshness.fresh ? '' : html`<br><small>${s.freshness.reason}</small>`}</td>
<td><span class="label">last run</span>${run}${s.pulledNow ? html`<br><small>being pulled now by ${s.pulledNow.owner} (${s.pulledNow.purpose}) since ${s.pulledNow.since}</small>` : ''}</td>
</tr>`;
}

function backlogSection(status: Status): Raw {
  const targets = [...new Set([...status.transfer.map((t) => t.target), ...status.backlog.map((b) => b.target)])];
  const rows = targets.map((target) => {
    const counts = OUTBOX_STATES.map((state) => ({ state, count: status.backlog.find((b) => b.target === target && b.state === state)?.count ?? 0 })).filter((c) => c.count > 0);
    const chips = counts.map((c) => html`<span class="chip ${ATTENTION.has(c.state) ? 'bad' : WAITING.has(c.state) ? 'warn' : ''}" data-state="${c.state}">${c.count} ${c.state.replace('_', ' ')}</span> `);
    return html`<tr data-target="${target}"><th scope="row">${target}</th><td>${counts.length === 0 ? html`<span class="muted">empty</span>` : chips}</td></tr>`;
  });
  return html`<section id="outbox"><h2>Outbox</h2><div class="scroll"><table class="compact"><tbody>${rows}</tbody></table></div></section>`;
}

function listSection(id: string, title: string, items: Raw[], empty: string): Raw {
  return html`<section id="${id}"><h2>${title}${items.length > 0 ? ` (${items.length})` : ''}</h2>${items.length === 0 ? html`<p class="muted">${empty}</p>` : html`<ul class="items">${items}</ul>`}</section>`;
}

/** The `<main>` of the page: what the script swaps in on each refresh. */
function mainOf(status: Status, readiness: Readiness): Raw {
  const now = new Date(status.generatedAt);
  const dead = status.dead.map((d) => html`<li><b>#${d.id}</b> ${d.document} → ${d.target}<br><small>${d.reason ?? ''}</small></li>`);
  const inDoubt = status.inDoubt.map((d) => html`<li><b>#${d.id}</b> ${d.document} → ${d.target}<br><small>${d.reason ?? ''}</small></li>`);
  const quarantine = status.quarantine.map((q) => html`<li><b>#${q.id}</b> ${q.source} order ${q.record} <small class="muted">(${q.origin})</small><br><small>${q.field ? `${q.field}: ` : ''}${q.reason}</small></li>`);
  const transfer = status.transfer.map((t) => html`<tr data-target="${t.target}"><th scope="row">${t.target}</th><td>${t.account}</td><td class="${t.balance ? 'num' : 'bad'}">${formatTransfer(t.balance, t.error)}</td></tr>`);
  const credentials = status.credentials.map((c) => html`<li><span class="badge ${c.level === 'ok' ? 'ok' : c.level === 'expired' ? 'bad' : 'warn'}">${c.level}</span> ${c.message}</li>`);
  const w = status.webhooks;
  return html`<main id="status" data-generated="${status.generatedAt}">
${readiness.reasons.length > 0 ? html`<section id="health" class="alert"><h2>Not ready</h2><ul>${readiness.reasons.map((r) => html`<li>${r}</li>`)}</ul></section>` : ''}
${status.brokenGroups.length > 0 ? html`<section id="broken" class="alert"><h2>Broken groups</h2><ul>${status.brokenGroups.map((g) => html`<li>${g.message}</li>`)}</ul></section>` : ''}
<section id="sources"><h2>Sources</h2><div class="scroll"><table class="cards">
<thead><tr><th>source</th><th>cursor lag</th><th>last successful pull</th><th>last run</th></tr></thead>
<tbody>${status.sources.map((s) => sourceRow(s, now))}</tbody></table></div></section>
${backlogSection(status)}
${listSection('dead', 'Dead letters', dead, 'none')}
${listSection('in-doubt', 'In doubt', inDoubt, 'none')}
${listSection('quarantine', 'Quarantine', quarantine, 'empty')}
<section id="transfer"><h2>Transfer accounts</h2><div class="scroll"><table class="compact"><tbody>${transfer}</tbody></table></div></section>
${listSection('credentials', 'Credentials', credentials, 'none configured')}
${w.endpoint || w.events.length > 0
    ? html`<section id="webhooks"><h2>Webhooks</h2><ul class="items">${w.events.map((e) => html`<li>${e.source} ${e.eventType}${e.known ? '' : ' (unknown)'}: ${e.count}, last received ${e.lastReceivedAt}</li>`)}</ul>${w.events.length === 0 ? html`<p class="muted">none received</p>` : ''}</section>`
    : ''}
</main>`;
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#667;--line:#d8dce2;--ok:#176c2f;--okbg:#e2f4e6;--bad:#a3161b;--badbg:#fbe4e4;--warn:#7a5200;--warnbg:#fff1cc}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--bg:#15181c;--muted:#99a;--line:#33383f;--ok:#7fd394;--okbg:#1c3323;--bad:#ff8f8f;--badbg:#3d1f21;--warn:#ffd27a;--warnbg:#3a3018}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main{max-width:64rem;margin:0 auto;padding:0 .9rem}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.3rem 1rem;padding-top:.8rem;border-bottom:1px solid var(--line)}
h1{font-size:1.3rem;margin:.2rem 0}
h2{font-size:1.05rem;margin:1.2rem 0 .4rem}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid var(--line)}
thead th{font-size:.8rem;color:var(--muted);font-weight:600}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
.muted{color:var(--muted)}
small{font-size:.82rem}
.cursor{word-break:break-all}
.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.badge,.chip{display:inline-block;border-radius:.7rem;padding:0 .5rem;font-size:.85rem;margin:.1rem 0;background:var(--line)}
.ok.badge,.ok.chip,#state.ok{color:var(--ok);background:var(--okbg)}
.bad.badge,.bad.chip,#state.bad{color:var(--bad);background:var(--badbg)}
.warn.badge,.warn.chip{color:var(--warn);background:var(--warnbg)}
td.bad,span.bad{color:var(--bad)}
#state{border-radius:.7rem;padding:0 .6rem;font-weight:600;margin:0}
.alert{border:1px solid var(--bad);background:var(--badbg);border-radius:.4rem;padding:0 .8rem .4rem;margin-top:.8rem}
ul{padding-left:1.2rem;margin:.2rem 0}
.items li{margin:.3rem 0;overflow-wrap:anywhere}
#conn{color:var(--bad)}
body.stale main{opacity:.55}
table.compact{width:auto;min-width:50%}
.label{display:none}
@media (max-width:40rem){body{font-size:14px}th,td{padding:.3rem .35rem}
.cards thead{display:none}.cards tr,.cards th,.cards td{display:block;border:0}.cards tr{border-bottom:1px solid var(--line);padding:.3rem 0}
.cards .label{display:block;font-size:.75rem;color:var(--muted)}}
`;

/** Fetch the page again every `data-refresh` seconds (not while hidden) and swap in the new parts. */
const SCRIPT = `
(() => {
  const every = Number(document.body.dataset.refresh) * 1000;
  let timer = 0;
  const say = (text) => {
    document.getElementById('conn').textContent = text;
    document.body.classList.toggle('stale', text !== '');
  };
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, every);
  };
  async function refresh() {
    if (document.hidden) return later();
    try {
      const res = await fetch(location.pathname + '?part=live', { headers: { accept: 'text/html' }, credentials: 'same-origin', cache: 'no-store' });
      if (res.status === 401) return say('signed out: open the page with its token again');
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      for (const id of ['state', 'generated', 'status']) {
        const next = doc.getElementById(id);
        const current = document.getElementById(id);
        if (next && current) current.replaceWith(document.adoptNode(next));
      }
      document.title = doc.title;
      say('');
    } catch {
      say('kontor does not answer; trying again');
    }
    later();
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refresh();
  });
  later();
})();
`;

export interface StatusPageOptions {
  refreshSeconds: number;
  /** The CSP nonce of this response's style and script. */
  nonce: string;
}

function titleOf(readiness: Readiness): string {
  return readiness.ready ? 'kontor: ready' : 'kontor: NOT READY';
}

function stateOf(readiness: Readiness): Raw {
  return html`<p id="state" class="${readiness.ready ? 'ok' : 'bad'}">${readiness.ready ? 'ready' : 'not ready'}</p>`;
}

function generatedOf(status: Status): Raw {
  return html`<time id="generated" datetime="${status.generatedAt}">${status.generatedAt.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC')}</time>`;
}

/** What the page's script swaps in on each refresh: the title, the state, the time and `<main>`; no style, no script. */
export function renderStatusLive(status: Status, readiness: Readiness): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${titleOf(readiness)}</title></head>
<body>${stateOf(readiness)}${generatedOf(status)}
${mainOf(status, readiness)}
</body></html>
`.html;
}

export function renderStatusPage(status: Status, readiness: Readiness, options: StatusPageOptions): string {
  const { nonce, refreshSeconds } = options;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>${titleOf(readiness)}</title>
<noscript><meta http-equiv="refresh" content="${refreshSeconds}"></noscript>
<style nonce="${nonce}">${new Raw(STYLE)}</style>
</head>
<body data-refresh="${refreshSeconds}">
<header><h1>kontor status</h1>${stateOf(readiness)}
<p><small class="muted">updated ${generatedOf(status)}, every ${refreshSeconds} s</small> <small id="conn"></small></p></header>
${mainOf(status, readiness)}
<script nonce="${nonce}">${new Raw(SCRIPT)}</script>
</body>
</html>
`.html;
}
