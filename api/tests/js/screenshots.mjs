// The pages' screenshots in docs/pages/, from a running podium (e.g. `podium demo`):
//   node screenshots.mjs http://127.0.0.1:8080 EVENT_ID BIB ../../../docs/pages
// (BIB: an athlete still racing, so the tracker shows a predicted finish.)
import { chromium } from 'playwright-core';

const [base, eventId, bib, dir] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run'],
});
const shoot = async (path, file, viewport, fullPage = false) => {
  const context = await browser.newContext({ viewport, isMobile: viewport.width < 500 });
  const page = await context.newPage();
  await page.goto(`${base}${path}`, { waitUntil: 'networkidle' });
  await page.waitForTimeout(1500);
  await page.screenshot({ path: `${dir}/${file}`, fullPage });
  await context.close();
};
await shoot(`/events/${eventId}/live?category=OPEN&gender=MEN&first=15`, 'live-board.png', { width: 1920, height: 1080 });
await shoot(`/events/${eventId}/live?category=OPEN&gender=WOMEN&first=10`, 'live-phone.png', { width: 390, height: 844 });
await shoot(`/events/${eventId}/athletes/${bib}`, 'athlete-tracker.png', { width: 1000, height: 1200 });
await shoot(`/events/${eventId}/report`, 'event-report.png', { width: 1200, height: 1400 });
await browser.close();
