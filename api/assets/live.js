// The live parts of podium's pages: a graphql-ws subscription (the official client, served
// from podium) tells when something changed; the page then asks /graphql for the rows again.
// After a drop the client reconnects and resubscribes from the page's last `seq` (`afterSeq`),
// so no step is missed; the status badge says live or reconnecting.
(function () {
  'use strict';
  var root = document.querySelector('[data-live]');
  if (!root || !window.graphqlWs) return;
  var d = root.dataset;
  var status = document.getElementById('status');
  var seq = Number(d.seq || 0);
  var setStatus = function (s) {
    status.textContent = s;
    status.className = 'status ' + s;
    root.setAttribute('data-state', s);
  };
  var pending = null;
  var post = function (query, variables) {
    return fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: query, variables: variables })
    }).then(function (r) { return r.json(); });
  };
  var clock = function (ms) {
    if (ms === null || ms === undefined) return '';
    var s = Math.round(ms / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var two = function (n) { return (n < 10 ? '0' : '') + n; };
    return h > 0 ? h + ':' + two(m) + ':' + two(r) : m + ':' + two(r);
  };
  var cell = function (text, cls) {
    var td = document.createElement('td');
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  };
  var renderBoard = function (data) {
    var tbody = document.getElementById('rows');
    var before = {};
    Array.prototype.forEach.call(tbody.rows, function (tr) { before[tr.dataset.bib] = tr.dataset.rank; });
    var rows = data.leaderboard.edges.map(function (e) { return e.node; });
    tbody.textContent = '';
    rows.forEach(function (n) {
      var tr = document.createElement('tr');
      tr.dataset.bib = n.bib;
      tr.dataset.rank = n.rank === null ? '' : String(n.rank);
      if (before[n.bib] !== undefined && before[n.bib] !== tr.dataset.rank) {
        tr.className = 'moved';
        setTimeout(function () { tr.className = ''; }, 2000);
      }
      var p = n.prediction;
      tr.appendChild(cell(n.rank === null ? n.status : String(n.rank), 'num'));
      tr.appendChild(cell(n.bib, 'num'));
      tr.appendChild(cell(n.athlete.name, 'name'));
      tr.appendChild(cell(n.lastTimingPoint || '', 'small hide-narrow'));
      tr.appendChild(cell(clock(n.netTimeMs !== null ? n.netTimeMs : n.elapsedMs), 'num'));
      tr.appendChild(cell(p && n.netTimeMs === null ? clock(p.finishMs) + ' (' + clock(p.lowMs) + '–' + clock(p.highMs) + ')' : '', 'num small hide-narrow'));
      tbody.appendChild(tr);
    });
    document.getElementById('seq').textContent = String(data.event.seq);
  };
  var board = 'query($e: ID!, $c: Category, $g: Gender, $n: Int) { event(id: $e) { seq status } leaderboard(eventId: $e, category: $c, gender: $g, first: $n) { edges { node { rank bib status netTimeMs elapsedMs lastTimingPoint athlete { name } prediction { finishMs lowMs highMs } } } } }';
  var vars = { e: d.event, c: d.category || null, g: d.gender || null, n: Number(d.first || 20) };
  var refresh = function () {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      if (d.live === 'board') {
        post(board, vars).then(function (r) { if (r.data) renderBoard(r.data); });
      } else {
        fetch(location.pathname + '?fragment=1').then(function (r) { return r.text(); }).then(function (html) {
          document.getElementById('fragment').innerHTML = html;
        });
      }
    }, 50);
  };
  var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  var client = window.graphqlWs.createClient({
    url: scheme + location.host + '/graphql/ws',
    lazy: false,
    retryAttempts: Infinity,
    shouldRetry: function () { return true; },
    retryWait: function (retries) {
      return new Promise(function (resolve) { setTimeout(resolve, Math.min(500 * (retries + 1), 5000)); });
    },
    on: {
      connected: function () { setStatus('live'); refresh(); },
      closed: function () { setStatus('reconnecting'); },
      error: function () { setStatus('reconnecting'); }
    }
  });
  var subscription = d.live === 'board'
    ? { query: 'subscription($e: ID!, $c: Category, $g: Gender, $a: Int, $n: Int) { leaderboardUpdates(eventId: $e, category: $c, gender: $g, afterSeq: $a, first: $n) { seq kind } }',
        variables: { e: d.event, c: vars.c, g: vars.g, a: seq, n: vars.n }, field: 'leaderboardUpdates' }
    : { query: 'subscription($e: ID!, $b: String!, $a: Int) { entryUpdates(eventId: $e, bib: $b, afterSeq: $a) { seq } }',
        variables: { e: d.event, b: d.bib, a: seq }, field: 'entryUpdates' };
  client.subscribe({ query: subscription.query, variables: subscription.variables }, {
    next: function (message) {
      var update = message.data && message.data[subscription.field];
      if (update && update.seq > seq) seq = update.seq;
      refresh();
    },
    error: function () { setStatus('reconnecting'); },
    complete: function () {}
  });
  window.podium = { client: client, refresh: refresh };
})();
