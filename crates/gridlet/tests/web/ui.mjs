// The page in a real browser (issue 11, "Done when" 1), run by crates/gridlet/tests/web_ui.rs:
//   node ui.mjs BASE_URL ARTIFACTS_DIR CHROMIUM
// Opens the dashboard of a running `gridlet sim`, sees values change live, changes the mode and
// the car's charge limit through the page's controls and checks the API, opens the history view
// and checks that its chart is drawn, and saves screenshots (desktop 1280x800, phone 390x844).
// playwright-core launches it with a fresh temporary profile of its own (--user-data-dir).
// Prints one JSON line of findings; exits non-zero on the first failed check.
import { chromium } from 'playwright-core';
import { join } from 'node:path';

const [base, artifacts, executablePath] = process.argv.slice(2);
if (!base || !artifacts || !executablePath) {
  console.error('usage: node ui.mjs BASE_URL ARTIFACTS_DIR CHROMIUM');
  process.exit(2);
}
const found = {};
const check = (ok, what) => { if (!ok) throw new Error('check failed: ' + what); };
const api = async path => {
  const r = await fetch(base + path);
  check(r.ok, `${path} answers ${r.status}`);
  return r.json();
};
// Polls `f` until it returns a truthy value, for at most `ms`.
async function until(what, f, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out: ' + what);
    await new Promise(r => setTimeout(r, 100));
  }
}

const browser = await chromium.launch({
  executablePath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const desktop = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  desktop.on('pageerror', e => errors.push(String(e)));
  await desktop.goto(base + '/');

  // Live: the SSE stream connects and the shown values move on by themselves.
  await desktop.waitForFunction(() => document.querySelector('#conn').textContent === 'live', null, { timeout: 15000 });
  const t1 = await desktop.textContent('#time');
  const t2 = await until('the page\'s time moves on', async () => {
    const t = await desktop.textContent('#time');
    return t !== t1 && t;
  });
  found.live = { first: t1, later: t2 };
  check((await desktop.textContent('#v-pv')) !== '–', 'the energy flow shows PV power');

  // The mode through the page's select; the API reflects it.
  await desktop.selectOption('#mode', 'hold');
  await until('the API reports mode hold', async () => (await api('/api/v1/settings')).mode === 'hold');
  await until('the controller runs in hold', async () => (await api('/api/v1/status')).site.controller.mode === 'hold');
  // The car's charge limit through the slider.
  await desktop.fill('#soc-limit', '65');
  await until('the API reports the 65 % limit', async () => (await api('/api/v1/settings')).ev_target_soc_pct === 65);
  await until('the page confirms', async () => (await desktop.textContent('#msg')) === 'saved');
  found.controls = await api('/api/v1/settings');

  // The plan chart, drawn once a plan exists.
  await desktop.waitForSelector('#plan-chart canvas', { timeout: 15000 });
  await desktop.screenshot({ path: join(artifacts, 'dashboard-desktop.png') });

  // History: the chart is drawn, with data.
  await desktop.click('#tab-history');
  await desktop.waitForSelector('#hist-chart canvas', { timeout: 15000 });
  const drawn = await desktop.evaluate(() => {
    const u = window.gridletCharts['#hist-chart'];
    const points = u.data.slice(1).map(s => s.filter(v => v != null).length);
    // Pixels in a series' colour: lines drawn, not only the grid.
    const c = document.querySelector('#hist-chart canvas');
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const want = u.colors.filter(x => typeof x === 'string' && x.startsWith('#'))
      .map(h => [1, 3, 5].map(i => parseInt(h.slice(i, i + 2), 16)));
    let coloured = 0;
    for (let i = 0; i < px.length; i += 4) {
      if (px[i + 3] > 200 && want.some(([r, g, b]) =>
        Math.abs(px[i] - r) < 24 && Math.abs(px[i + 1] - g) < 24 && Math.abs(px[i + 2] - b) < 24)) coloured++;
    }
    return { series: u.series.slice(1).map(s => s.label), points, coloured, width: c.width, height: c.height };
  });
  found.history = drawn;
  check(drawn.points.some(n => n >= 2), 'the history chart has data');
  check(drawn.coloured > 100, `the history chart's lines are drawn (${drawn.coloured} pixels)`);
  await desktop.waitForSelector('#energy-table tr', { timeout: 10000 });
  // The simulated market prices every tick: the totals show their money with the currency.
  const money = await desktop.evaluate(() => ({
    head: document.querySelector('#energy-table tr').textContent,
    line: document.querySelector('#energy-money').textContent,
  }));
  found.energy = money;
  check(money.head.includes('cost EUR') && money.head.includes('savings EUR') && money.head.includes('export revenue EUR'),
    'the energy totals show cost, export revenue and savings in EUR: ' + money.head);
  check(/saved -?\d+\.\d\d EUR/.test(money.line), 'the savings line: ' + money.line);
  await desktop.screenshot({ path: join(artifacts, 'history-desktop.png') });
  check(errors.length === 0, 'no script errors: ' + errors.join('; '));

  // The phone.
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await phone.goto(base + '/');
  await phone.waitForFunction(() => document.querySelector('#conn').textContent === 'live', null, { timeout: 15000 });
  await phone.waitForSelector('#plan-chart canvas', { timeout: 15000 });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the phone page scrolls sideways by ${overflow} px`);
  await phone.screenshot({ path: join(artifacts, 'dashboard-phone.png'), fullPage: true });
  found.screenshots = ['dashboard-desktop.png', 'history-desktop.png', 'dashboard-phone.png'].map(f => join(artifacts, f));
  console.log(JSON.stringify(found));
} finally {
  await browser.close();
}
