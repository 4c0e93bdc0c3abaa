// Live updates: follow the host's event stream from the event the page
// was made at (EventSource resumes with Last-Event-ID after a reconnect)
// and add each new record to the page.
(function () {
  'use strict';
  var table = document.querySelector('table[data-live]');
  var mark = document.getElementById('live');
  if (!table || !window.EventSource) return;
  if (table.dataset.live === 'chain') return chain();
  if (table.dataset.live === 'engine') return engine();
  if (table.dataset.live === 'subject') return subject();
  var contract = table.dataset.contract;
  var url = '/v1/events?kind=call&after=' + encodeURIComponent(table.dataset.after || '0');
  if (contract) url += '&contract=' + encodeURIComponent(contract);
  // A contract page asks the host to audit the logs (once on load, then
  // after new records settle) and marks each record.
  var timer = null;
  function audit() {
    var out = document.getElementById('audit');
    if (!out) return;
    out.textContent = 'checking…';
    fetch(out.dataset.url, { headers: { Accept: 'application/json' } })
      .then(function (r) { return r.json(); })
      .then(function (v) {
        if (v.skipped) { out.textContent = v.skipped; return; }
        out.textContent = v.ok ? 'all ' + v.length + ' records verify' :
          v.finding.check + ' check failed' + (v.finding.entry >= 0 ? ' at record ' + v.finding.entry : '') + ': ' + v.finding.message;
        out.className = v.ok ? 'ok' : 'err';
        document.querySelectorAll('td.check').forEach(function (td) {
          var verdict = (v.calls || [])[Number(td.dataset.seq)];
          if (!verdict) return;
          td.textContent = verdict === 'verified' ? '✓ verified' : verdict === 'failed' ? '✗ failed' : 'unchecked';
          td.className = 'check ' + verdict;
        });
      })
      .catch(function () { out.textContent = 'could not be run'; });
  }
  function later() { clearTimeout(timer); timer = setTimeout(audit, 400); }
  if (contract) audit();
  var es = new EventSource(url);
  es.onopen = function () { mark.classList.add('on'); };
  es.onerror = function () { mark.classList.remove('on'); };
  es.addEventListener('call', function (m) {
    var ev = JSON.parse(m.data), d = ev.data || {};
    var cells;
    if (contract) {
      cells = [d.seq, d.type, d.user ? { text: short(d.user), href: '/user/' + d.user } : '', d.method || '',
        d.error ? d.error.code + ': ' + d.error.message : JSON.stringify(d.result), d.gas, short(d.state_root)];
      set('log-length', d.seq + 1);
      set('state-root', d.state_root);
      set('state-length', d.state_length);
      fetch(location.pathname, { headers: { Accept: 'application/json' } })
        .then(function (r) { return r.json(); })
        .then(function (p) { set('exports', JSON.stringify(p.info.exports)); })
        .catch(function () {});
    } else {
      cells = [ev.seq, ev.kind, short(ev.contract), JSON.stringify(d)];
      set('event-count', ev.seq);
      var c = document.querySelector('td[data-contract="' + ev.contract + '"]');
      if (c) c.textContent = d.seq + 1;
    }
    var tr = document.createElement('tr');
    tr.className = 'fresh';
    cells.forEach(function (v) {
      var td = document.createElement('td');
      if (typeof v === 'number') td.className = 'num';
      if (v && v.href) {
        var a = document.createElement('a');
        a.href = v.href;
        a.textContent = v.text;
        td.appendChild(a);
      } else {
        td.textContent = v === undefined ? '' : v;
      }
      tr.appendChild(td);
    });
    if (contract) {
      var check = document.createElement('td');
      check.className = 'check';
      check.dataset.seq = d.seq;
      check.textContent = '…';
      tr.appendChild(check);
      later();
    }
    var body = table.tBodies[0];
    var empty = body.querySelector('tr.empty');
    if (empty) empty.remove();
    body.insertBefore(tr, body.firstChild);
  });
  // A DPoR node's home page: each final block (or impeach block) on top.
  function chain() {
    var es = new EventSource('/v1/events?kind=block,impeach&after=' + encodeURIComponent(table.dataset.after || '0'));
    es.onopen = function () { mark.classList.add('on'); };
    es.onerror = function () { mark.classList.remove('on'); };
    var add = function (m) {
      var ev = JSON.parse(m.data), d = ev.data || {};
      var tr = document.createElement('tr');
      tr.className = 'fresh' + (ev.kind === 'impeach' ? ' impeach' : '');
      var a = document.createElement('a');
      a.href = '/block/' + ev.height;
      a.textContent = ev.height;
      var cells = [a, short(d.hash), ev.kind === 'impeach' ? 'impeach block' : (d.proposer || ''), d.txs || 0];
      cells.forEach(function (v, i) {
        var td = document.createElement('td');
        if (i === 0 || i === 3) td.className = 'num';
        if (v && v.nodeType) td.appendChild(v); else td.textContent = v;
        tr.appendChild(td);
      });
      var body = table.tBodies[0];
      body.insertBefore(tr, body.firstChild);
      while (body.rows.length > 50) body.deleteRow(body.rows.length - 1);
      set('height', ev.height);
      if (ev.kind === 'impeach') {
        var imp = document.getElementById('impeached');
        if (imp) imp.textContent = Number(imp.textContent) + 1;
      }
    };
    es.addEventListener('block', add);
    es.addEventListener('impeach', add);
  }
  // An engine node's home page: each block on top, reverted blocks struck
  // out, and the tip, lag and rates refreshed.
  function engine() {
    var es = new EventSource('/v1/events?kind=block,revert&after=' + encodeURIComponent(table.dataset.after || '0'));
    es.onopen = function () { mark.classList.add('on'); };
    es.onerror = function () { mark.classList.remove('on'); };
    var body = table.tBodies[0], timer = null;
    var refresh = function () {
      fetch('/', { headers: { Accept: 'application/json' } })
        .then(function (r) { return r.json(); })
        .then(function (p) {
          set('source-tip', p.source_tip >= 0 ? p.source_tip : 'not seen yet');
          set('lag', p.lag >= 0 ? p.lag : 'unknown');
          set('rate-blocks', p.blocks_per_sec.toFixed(1));
          set('rate-ops', p.ops_per_sec.toFixed(1));
        })
        .catch(function () {});
    };
    es.addEventListener('block', function (m) {
      var ev = JSON.parse(m.data), d = ev.data || {};
      var tr = document.createElement('tr');
      tr.className = 'fresh';
      tr.dataset.height = ev.height;
      var a = document.createElement('a');
      a.href = '/block/' + ev.height;
      a.textContent = ev.height;
      var c = document.createElement('a');
      c.href = '/consensus/' + d.consensus;
      c.appendChild(code(d.consensus));
      [a, code(short(d.hash)), c, d.accepted, d.candidates].forEach(function (v, i) {
        var td = document.createElement('td');
        if (i === 0 || i > 2) td.className = 'num';
        if (v && v.nodeType) td.appendChild(v); else td.textContent = v;
        tr.appendChild(td);
      });
      var empty = body.querySelector('tr.empty');
      if (empty) empty.remove();
      body.insertBefore(tr, body.firstChild);
      while (body.rows.length > 50) body.deleteRow(body.rows.length - 1);
      set('height', ev.height);
      document.getElementById('height').href = '/block/' + ev.height;
      set('consensus', d.consensus);
      set('tip-hash', short(d.hash));
      set('state', d.state || '');
      clearTimeout(timer);
      timer = setTimeout(refresh, 100);
    });
    es.addEventListener('revert', function (m) {
      var ev = JSON.parse(m.data);
      Array.prototype.forEach.call(body.rows, function (tr) {
        if (Number(tr.dataset.height) > ev.height && !tr.classList.contains('reverted')) {
          tr.classList.add('reverted');
          tr.title = 'reverted: a reorg went back to block ' + ev.height;
        }
      });
      set('height', ev.height);
    });
  }
  // A name's or a contract's page: each new op on top.
  function subject() {
    var key = table.dataset.contract ? 'contract' : 'name';
    var es = new EventSource('/v1/events?kind=op&' + key + '=' + encodeURIComponent(table.dataset.name) +
      '&after=' + encodeURIComponent(table.dataset.after || '0'));
    es.onopen = function () { mark.classList.add('on'); };
    es.onerror = function () { mark.classList.remove('on'); };
    es.addEventListener('op', function (m) {
      var ev = JSON.parse(m.data), d = ev.data || {};
      var tr = document.createElement('tr');
      tr.className = 'fresh';
      var a = document.createElement('a');
      a.href = '/block/' + ev.height;
      a.textContent = ev.height;
      [a, ev.kind, d.op].forEach(function (v, i) {
        var td = document.createElement('td');
        if (i === 0) td.className = 'num';
        if (v && v.nodeType) td.appendChild(v); else td.textContent = v;
        tr.appendChild(td);
      });
      var body = table.tBodies[0];
      var empty = body.querySelector('tr.empty');
      if (empty) empty.remove();
      body.insertBefore(tr, body.firstChild);
    });
  }
  function code(text) { var c = document.createElement('code'); c.textContent = text; return c; }
  function set(id, v) { var e = document.getElementById(id); if (e) e.textContent = v; }
  function short(s) { s = s || ''; return s.length > 16 ? s.slice(0, 8) + '…' + s.slice(-6) : s; }
})();
