// podium's pages in headless Chromium (Debian's, driven by playwright-core): the live board
// moves within a second of an ingest, resumes after its WebSocket is killed without losing
// the update made meanwhile, the tracker and report open, GraphiQL renders from podium's own
// assets, no Content-Security-Policy violation or script error anywhere, and a phone-sized
// board fits. Screenshots go to the directory given.
//   node pages.mjs BASE EVENT_ID ADMIN_TOKEN SCREENSHOT_DIR MOVES_JSON
import { chromium } from 'playwright-core';

const [base, eventId, token, shots, movesJson] = process.argv.slice(2);
const moves = JSON.parse(movesJson);
const problems = [];
const ingest = async (rows) => {
  const r = await fetch(`${base}/v1/events/${eventId}/detections`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(rows),
  });
  if (!r.ok) throw new Error(`ingest answered ${r.status}: ${await r.text()}`);
};
const rankOf = (page, bib) =>
  page.$eval(`#rows tr[data-bib="${bib}"]`, (tr) => tr.dataset.rank).catch(() => null);
const waitRank = async (page, bib, rank, ms) => {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if ((await rankOf(page, bib)) === String(rank)) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`bib ${bib} not at rank ${rank} within ${ms} ms (now ${await rankOf(page, bib)})`);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run'],
});
const watch = (page, name) => {
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`${name}: console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${name}: ${e.message}`));
  page.on('requestfailed', (r) => {
    // A WebSocket killed on purpose is not a problem.
    if (!r.url().startsWith('ws')) problems.push(`${name}: request failed ${r.url()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${name}: ${r.status()} for ${r.url()}`);
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith(base.replace('http', 'ws')) && !r.url().startsWith('data:')) {
      problems.push(`${name}: a request outside podium: ${r.url()}`);
    }
  });
};
const result = {};
try {
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  const page = await context.newPage();
  watch(page, 'live');
  const response = await page.goto(`${base}/events/${eventId}/live`);
  result.csp = response.headers()['content-security-policy'];
  await page.waitForSelector('main[data-state="live"]', { timeout: 10000 });
  result.before = await rankOf(page, moves.measured.bib);
  await ingest(moves.measured.rows);
  result.moveMs = await waitRank(page, moves.measured.bib, moves.measured.rank, 1000);
  await page.screenshot({ path: `${shots}/live-board.png` });

  // Kill the WebSocket; ingest while it is down; the page must come back with that update.
  await page.evaluate(() => window.podium.client.terminate());
  await page.waitForSelector('main[data-state="reconnecting"]', { timeout: 5000 });
  result.reconnectingShown = true;
  await ingest(moves.whileDown.rows);
  await page.waitForSelector('main[data-state="live"]', { timeout: 15000 });
  result.resumeMs = await waitRank(page, moves.whileDown.bib, moves.whileDown.rank, 3000);
  result.keyboard = await page.evaluate(() => {
    const links = [...document.querySelectorAll('nav.tabs a')];
    return links.length > 0 && links.every((a) => a.tabIndex === 0);
  });

  // Without JavaScript: the server's snapshot.
  const noJs = await browser.newContext({ javaScriptEnabled: false });
  const snapshot = await noJs.newPage();
  await snapshot.goto(`${base}/events/${eventId}/live`);
  result.snapshotRows = await snapshot.$$eval('#rows tr', (rows) => rows.length);
  await noJs.close();

  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const small = await phone.newPage();
  watch(small, 'phone');
  await small.goto(`${base}/events/${eventId}/live`);
  await small.waitForSelector('main[data-state="live"]', { timeout: 10000 });
  result.phoneOverflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await small.screenshot({ path: `${shots}/live-phone.png` });
  await phone.close();

  const tracker = await context.newPage();
  watch(tracker, 'tracker');
  await tracker.goto(`${base}/events/${eventId}/athletes/${moves.tracked}`);
  await tracker.waitForSelector('main[data-state="live"]', { timeout: 10000 });
  result.trackerSplits = await tracker.$$eval('#fragment tbody tr', (rows) => rows.length);
  await tracker.screenshot({ path: `${shots}/athlete-tracker.png`, fullPage: true });

  const report = await context.newPage();
  watch(report, 'report');
  await report.goto(`${base}/events/${eventId}/report`);
  await report.waitForLoadState('networkidle');
  result.reportCharts = await report.$$eval('.charts img', (imgs) => imgs.filter((i) => i.complete && i.naturalWidth > 0).length);
  await report.screenshot({ path: `${shots}/event-report.png`, fullPage: true });

  const index = await context.newPage();
  watch(index, 'index');
  await index.goto(`${base}/`);
  result.indexLinks = await index.$$eval(`a[href="/events/${eventId}/live"]`, (a) => a.length);

  const graphiql = await context.newPage();
  watch(graphiql, 'graphiql');
  await graphiql.goto(`${base}/graphql`, { waitUntil: 'networkidle' });
  await graphiql.waitForSelector('.graphiql-container', { timeout: 15000 });
  result.graphiql = true;
  await graphiql.screenshot({ path: `${shots}/graphiql.png` });
} catch (e) {
  problems.push(String(e && e.stack || e));
} finally {
  await browser.close();
}
result.problems = problems;
console.log(JSON.stringify(result));
