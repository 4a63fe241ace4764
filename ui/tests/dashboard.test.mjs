// The dashboard in a real browser (Debian's Chromium, driven by Playwright)
// against a real daemon. `cargo test -p clipshot --test dashboard` starts the
// daemon and runs this with:
//   CLIPSHOT_URL    the daemon, http://127.0.0.1:<port>
//   CLIPSHOT_LINK   a one-time link from `clipshot open --print`
//   CLIPSHOT_TOKEN  the API token (only to check it never shows up)
//   SCREENSHOT_DIR  where each page's screenshot goes
//   AI_READY        1 when ONNX Runtime and the shipped models are installed
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const base = need('CLIPSHOT_URL');
const link = need('CLIPSHOT_LINK');
const token = need('CLIPSHOT_TOKEN');
const shots = process.env.SCREENSHOT_DIR ?? 'screenshots';
mkdirSync(shots, { recursive: true });

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run this through cargo test -p clipshot --test dashboard)`);
  return value;
}

test('the dashboard, end to end', { timeout: 240_000 }, async (t) => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    // No network beyond loopback here: keep Chromium from trying.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const origin = new URL(base).origin;
  const urls = [];
  const foreign = [];
  // Offline: anything not served by the daemon is refused and remembered.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    urls.push(url);
    if (url.startsWith(`${origin}/`) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    foreign.push(url);
    return route.abort();
  });
  const consoleErrors = [];
  const page = await context.newPage();
  const watch = (p) => {
    p.on('console', (m) => m.type() === 'error' && consoleErrors.push(`${m.text()} (${m.location().url})`));
    p.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
    p.on('framenavigated', (f) => f === p.mainFrame() && urls.push(f.url()));
  };
  watch(page);
  const shot = (p, name) => p.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

  await t.test('the one-time link signs in with a strict, HttpOnly cookie and leaves the address bar', async () => {
    await page.goto(link);
    await page.waitForSelector('#nav:not([hidden])');
    await page.waitForFunction(() => location.hash === '#/pipelines');
    assert.equal(new URL(page.url()).search, '', 'the code is gone from the URL');
    assert.ok(!page.url().includes('code='), page.url());
    const cookies = await context.cookies(base);
    const session = cookies.find((c) => c.name.startsWith('clipshot_session_'));
    assert.ok(session, `a session cookie: ${JSON.stringify(cookies)}`);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.ok(!session.value.includes(token));
    // A spent link does not sign in again.
    const other = await browser.newContext();
    const again = await other.newPage();
    await again.goto(link);
    await again.waitForSelector('form.login');
    assert.match(await again.textContent('main'), /used already or has expired/);
    assert.equal((await other.cookies(base)).length, 0);
    await shot(again, 'login');
    await other.close();
  });

  await t.test('the pipelines page shows the live preview and the numbers', async () => {
    const card = page.locator('article.pipeline').first();
    await card.waitFor();
    await page.waitForFunction(() => {
      const img = document.querySelector('img.preview');
      return img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0 && !img.hidden;
    }, null, { timeout: 30_000 });
    await page.waitForFunction(() => Number(document.querySelector('[data-stat="fps"]')?.textContent) > 0, null, { timeout: 30_000 });
    assert.match(await card.locator('.badge').first().textContent(), /running/);
    assert.notEqual((await card.locator('[data-stat="encoder"]').textContent()).trim(), '—');
    await shot(page, 'pipelines');
  });

  let clipId;
  await t.test('"Save clip" makes a new clip appear in the grid through SSE', async () => {
    // The grid, open in a second tab, is never reloaded: only the event stream can add to it.
    const grid = await context.newPage();
    watch(grid);
    await grid.goto(`${base}/ui/#/clips`);
    await grid.waitForSelector('#live.on');
    await grid.waitForFunction(() => document.querySelector('.page-clips p.muted')?.textContent !== '');
    const before = await grid.locator('[data-clip]').count();
    await page.bringToFront();
    await page.fill('.marker-label', 'clutch');
    await page.click('text=Add marker');
    await page.waitForSelector('.toast >> text=Marker “clutch” added');
    await page.fill('input.seconds', '4');
    await page.click('button.save');
    await page.waitForSelector('.toast >> text=/Saved 0:0[3-5]/');
    await grid.waitForFunction((n) => document.querySelectorAll('[data-clip]').length === n + 1, before, { timeout: 15_000 });
    clipId = await grid.locator('[data-clip]').first().getAttribute('data-clip');
    await grid.waitForFunction(() => {
      const img = document.querySelector('[data-clip] img');
      return img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0;
    });
    await shot(grid, 'clips');
    await grid.close();
  });

  await t.test('the player plays and seeks the clip, with its marker; no score timeline for a clip nobody scored', async () => {
    const ranges = [];
    page.on('response', (r) => r.url().endsWith('/file') && ranges.push(`${r.status()} ${r.request().headers().range ?? ''}`));
    await page.goto(`${base}/ui/#/clip/${encodeURIComponent(clipId)}`);
    const video = page.locator('video[data-testid="player"]');
    await video.waitFor();
    await page.waitForFunction(() => document.querySelector('video').readyState >= 1, null, { timeout: 20_000 });
    const length = await video.evaluate((v) => v.duration);
    assert.ok(length > 2.5 && length < 6, `duration ${length}`);
    await video.evaluate((v) => { v.muted = true; return v.play(); });
    await page.waitForFunction(() => document.querySelector('video').currentTime > 0.3, null, { timeout: 20_000 });
    await video.evaluate((v) => v.pause());
    const seeked = await video.evaluate((v) => new Promise((resolve) => {
      v.addEventListener('seeked', () => resolve(v.currentTime), { once: true });
      v.currentTime = 2;
    }));
    assert.ok(Math.abs(seeked - 2) < 0.5, `seeked to ${seeked}`);
    assert.ok(ranges.some((r) => r.startsWith('206 bytes=')), `the file was read by ranges: ${ranges}`);
    assert.equal(await page.locator('.track.markers .marker').count(), 1, 'the marker is drawn under the player');
    assert.equal(await page.locator('[data-testid="score-timeline"]').count(), 0, 'no score timeline without a score');
    await shot(page, 'player');
  });

  await t.test('a rename persists after a reload', async () => {
    await page.fill('input.title-edit', 'Ace clutch');
    await page.press('input.title-edit', 'Enter');
    await page.waitForSelector('.toast >> text=Renamed');
    await page.reload();
    await page.waitForSelector('input.title-edit');
    assert.equal(await page.inputValue('input.title-edit'), 'Ace clutch');
    await page.goto(`${base}/ui/#/clips`);
    await page.waitForSelector(`[data-clip="${clipId}"] >> text=Ace clutch`);
  });

  await t.test('the grid pages over the cursor as it scrolls, filters, tags, stars and deletes', async () => {
    // More clips than one page (24), saved over the API as a script would.
    for (let i = 0; i < 25; i++) {
      const r = await fetch(`${base}/api/v1/pipelines/test-pattern/replay/save`, {
        method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ seconds: 1 }),
      });
      assert.equal(r.status, 201);
    }
    // The grid is open already (the last step ended there): load it afresh.
    await page.goto(`${base}/ui/#/clips`);
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll('[data-clip]').length === 24);
    const total = 26; // the clip saved with the button, and these 25
    await page.locator('.sentinel').scrollIntoViewIfNeeded();
    await page.waitForFunction((n) => document.querySelectorAll('[data-clip]').length === n, total);
    await page.waitForSelector(`text=${total} clip(s)`);

    const card = page.locator(`[data-clip="${clipId}"]`);
    page.once('dialog', (d) => d.accept('clutch, ace'));
    await card.locator('button.tag-edit').click();
    await card.locator('.tag >> text=ace').waitFor();
    await card.locator('button.star').click();
    await page.waitForSelector(`[data-clip="${clipId}"] button.star.on`);
    await page.check('input[name="favorite"]');
    await page.waitForFunction((id) => {
      const cards = document.querySelectorAll('[data-clip]');
      return cards.length === 1 && cards[0].getAttribute('data-clip') === id;
    }, clipId);
    await page.uncheck('input[name="favorite"]');
    await page.selectOption('select[name="trigger"]', 'highlight');
    await page.waitForSelector('text=No clips yet');
    await page.selectOption('select[name="trigger"]', '');
    await page.selectOption('select[name="sort"]', 'created_at');
    await page.waitForFunction((id) => document.querySelector('[data-clip]')?.getAttribute('data-clip') === id, clipId);

    const victim = page.locator('[data-clip]').nth(1);
    const victimId = await victim.getAttribute('data-clip');
    page.once('dialog', (d) => d.accept());
    await victim.locator('button.delete').click();
    await page.waitForSelector(`[data-clip="${victimId}"]`, { state: 'detached' });
    const gone = await fetch(`${base}/api/v1/clips/${victimId}`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(gone.status, 404);
  });

  await t.test('the score timeline draws a highlight score with the detectors that fired', async () => {
    // No detector ships yet to score a clip, so the plot is drawn from a
    // made-up timeline, with the page's own module.
    const drawn = await page.evaluate(async () => {
      const { scorePlot } = await import('/ui/plot.js');
      const svg = scorePlot(10, [
        { t_s: 0, score: 0.1 }, { t_s: 4, score: 0.92, detectors: ['audio.gunshot', 'ocr.killfeed'] }, { t_s: 10, score: 0.2 },
      ], 0.5);
      document.querySelector('main').append(svg);
      return { d: svg.querySelector('.line').getAttribute('d'), fired: svg.querySelector('.fired title').textContent };
    });
    assert.equal(drawn.d.split(/[ML]/).filter(Boolean).length, 3);
    assert.match(drawn.fired, /audio\.gunshot, ocr\.killfeed/);
  });

  await t.test('dragging across the replay timeline saves that span', async () => {
    await page.goto(`${base}/ui/#/replay`);
    const ring = page.locator('[data-testid="ring-timeline"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="ring-timeline"] .keyframe').length > 2);
    const box = await ring.boundingBox();
    await page.mouse.move(box.x + box.width * 0.55, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2, { steps: 8 });
    await page.mouse.up();
    await page.waitForSelector('button:has-text("Save selection"):not([disabled])');
    await shot(page, 'replay');
    await page.click('text=Save selection');
    await page.waitForSelector('.toast >> text=/Saved \\d+\\.\\d s/');
  });

  await t.test('the models page shows the runtime, the GPU and opens a model', { skip: process.env.AI_READY !== '1' && 'no ONNX Runtime or models here' }, async () => {
    await page.goto(`${base}/ui/#/models`);
    const row = page.locator('[data-model="ced-tiny"]');
    await row.waitFor();
    assert.match(await page.textContent('[data-testid="ai-health"]'), /ONNX Runtime.*1\.31/);
    await row.locator('button:has-text("Load")').click();
    await page.waitForSelector('[data-model="ced-tiny"] >> text=loaded');
    assert.match(await row.textContent(), /CPU/);
    await shot(page, 'models');
    await row.locator('button:has-text("Unload")').click();
    await page.waitForSelector('[data-model="ced-tiny"] >> text=available');
  });

  await t.test('plugins and settings pages; a bad setting is explained beside its field', async () => {
    await page.goto(`${base}/ui/#/plugins`);
    const row = page.locator('[data-plugin="com.example.kill-feed"]');
    await row.waitFor();
    assert.match(await row.textContent(), /Kill feed.*0\.3\.1.*optional · fps.*stopped.*Reads kill feeds/);
    // Loading a Windows-only plugin here is refused, and the row says why.
    const loadErrorsBefore = consoleErrors.length;
    await row.locator('button:has-text("Load")').click();
    await row.locator('[data-testid="plugin-error"]').waitFor();
    assert.match(await row.textContent(), /error.*does not run on linux-x64/);
    await shot(page, 'plugins');
    // The browser logs the refusal's 422; that one is expected.
    const refused = consoleErrors.splice(loadErrorsBefore);
    assert.ok(refused.every((e) => /422/.test(e)), `unexpected: ${refused}`);
    await page.goto(`${base}/ui/#/settings`);
    await page.waitForSelector('#cfg-clip_seconds');
    const errorsBefore = consoleErrors.length;
    await page.fill('#cfg-clip_seconds', '-1');
    await page.click('text=Save settings');
    await page.waitForSelector('#cfg-clip_seconds-error:not(:empty)');
    assert.equal(await page.getAttribute('#cfg-clip_seconds', 'aria-invalid'), 'true');
    await shot(page, 'settings');
    // The browser logs the 422 it was shown; that one is expected.
    const extra = consoleErrors.splice(errorsBefore);
    assert.ok(extra.every((e) => /422/.test(e)), `unexpected: ${extra}`);
  });

  await t.test('offline, without console errors, and the token never in a URL', async () => {
    assert.deepEqual(foreign, [], 'nothing was fetched from beyond the daemon');
    assert.deepEqual(consoleErrors, []);
    const leaked = urls.filter((u) => u.includes(token));
    assert.deepEqual(leaked, []);
    assert.ok(urls.length > 20, `the requests were seen (${urls.length})`);
    const stored = await page.evaluate(() => document.documentElement.outerHTML + JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie);
    assert.ok(!stored.includes(token), 'the page holds no token (the cookie is HttpOnly)');
  });

  await t.test('signing out ends the session', async () => {
    await page.goto(`${base}/ui/#/pipelines`);
    await page.click('#sign-out');
    await page.waitForSelector('form.login >> text=Signed out.');
    await page.goto(`${base}/ui/#/clips`);
    await page.waitForSelector('form.login');
    const r = await page.evaluate(() => fetch('/api/v1/clips').then((x) => x.status));
    assert.equal(r, 401);
  });
});
