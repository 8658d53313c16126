import { test, expect, Page } from '@playwright/test';
import { graphql, hydrated, signUp, signUpWithoutJavaScript } from './helpers';

const WHO = '{ activeUser { name } }';

/** Creates a token expiring in `expiration` through the New token dialog; answers its secret. */
async function createExpiring(page: Page, name: string, expiration: string) {
  await page.getByRole('button', { name: 'New token' }).click();
  const dialog = page.getByRole('dialog', { name: /New token/ });
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByRole('checkbox', { name: 'profile:read', exact: true }).check();
  await dialog.getByLabel('Expiration').selectOption({ label: expiration });
  await dialog.getByRole('button', { name: 'Create token' }).click();
  const secret = await page.getByRole('textbox', { name: 'Your new token' }).inputValue();
  expect(secret).toMatch(/^spk_/);
  await page.getByRole('button', { name: 'Done' }).click();
  return secret;
}

test('a 7-day token is named in the expiry notice, and regenerating it keeps the old secret working until the new one is used', async ({ page, request }) => {
  await signUp(page);
  const old = await createExpiring(page, 'Nightly', '7 days');
  await createExpiring(page, 'Yearly', '1 year');

  const notice = page.getByRole('status').filter({ hasText: 'Nightly' });
  await expect(notice).toBeVisible();
  await expect(notice).not.toContainText('Yearly');
  await expect(page.getByRole('row', { name: /Nightly/ })).toContainText(/Expires in [67] days/);

  await notice.getByRole('button', { name: 'Regenerate Nightly' }).click();
  const dialog = page.getByRole('dialog', { name: /Regenerate/ });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Expiration').selectOption({ label: '30 days' });
  await dialog.getByRole('button', { name: 'Regenerate', exact: true }).click();
  const fresh = await dialog.getByRole('textbox', { name: 'Your new token' }).inputValue();
  expect(fresh).toMatch(/^spk_/);
  expect(fresh).not.toBe(old);
  await expect(dialog.getByRole('button', { name: 'Copy' })).toBeVisible();
  await dialog.getByRole('button', { name: 'Done' }).click();
  await expect(dialog).toBeHidden();

  // Both work until the new one is used; then only the new one.
  expect((await graphql(request, old, WHO)).status()).toBe(200);
  expect((await graphql(request, fresh, WHO)).status()).toBe(200);
  expect((await graphql(request, old, WHO)).status()).toBe(401);
  expect((await graphql(request, fresh, WHO)).status()).toBe(200);

  // One row, the same name, expiring in 30 days: the notice has nothing left to say.
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole('row', { name: /Nightly/ })).toHaveCount(1);
  await expect(page.getByRole('status').filter({ hasText: 'Nightly' })).toHaveCount(0);
});

test('the activity page shows a call with its user agent, and the security log lists it', async ({ page, request }) => {
  await signUp(page);
  const secret = await createExpiring(page, 'Build bot', '30 days');
  const answer = await request.post('/graphql', {
    headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json', 'User-Agent': 'build-bot/7.1 (e2e)' },
    data: { query: WHO },
  });
  expect(answer.status()).toBe(200);
  expect(answer.headers()['token-expiration']).toMatch(/Z$/);

  await page.getByRole('link', { name: 'Build bot' }).click();
  await expect(page).toHaveURL(/\/profile\/tokens\/[0-9a-f]+$/);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Build bot');
  const events = page.getByRole('table', { name: 'Events' });
  await expect(events.getByRole('row', { name: /First used/ })).toContainText('build-bot/7.1 (e2e)');
  await expect(events.getByRole('row', { name: /Created/ })).toBeVisible();
  await expect(page.getByRole('table', { name: 'Last used from' })).toContainText('127.0.0.1');

  await page.goto('/profile/security');
  const log = page.getByRole('table', { name: 'Security log' });
  await expect(log.getByRole('row', { name: /First used/ })).toContainText('Build bot');
  await expect(log.getByRole('row', { name: /Signed in|Created/ }).first()).toBeVisible();
});

test('a double-clicked Regenerate makes one token, shown once, and revokes nothing', async ({ page, request }) => {
  await signUp(page);
  const old = await createExpiring(page, 'Deploys', '30 days');
  await page.getByRole('row', { name: /Deploys/ }).getByRole('button', { name: 'Regenerate Deploys' }).click();
  const dialog = page.getByRole('dialog', { name: /Regenerate/ });
  await expect(dialog).toBeVisible();
  // The button is disabled while its request runs: the second click does nothing.
  await dialog.getByRole('button', { name: 'Regenerate', exact: true }).dblclick();
  const fresh = await dialog.getByRole('textbox', { name: 'Your new token' }).inputValue();
  expect(fresh).toMatch(/^spk_/);
  await dialog.getByRole('button', { name: 'Done' }).click();
  expect((await graphql(request, fresh, WHO)).status()).toBe(200);
  expect((await graphql(request, old, WHO)).status()).toBe(401);
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole('row', { name: /Deploys/ })).toHaveCount(1);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('regenerate, see the notice and the activity with plain form posts', async ({ page, request }) => {
    await signUpWithoutJavaScript(page);

    const old = await createExpiring(page, 'Cron', '7 days');
    await expect(page.getByRole('status').filter({ hasText: 'Cron' })).toBeVisible();

    await page.getByRole('row', { name: /Cron/ }).getByRole('button', { name: 'Regenerate Cron' }).click();
    const dialog = page.getByRole('dialog', { name: /Regenerate/ });
    await dialog.getByLabel('Expiration').selectOption({ label: '90 days' });
    await dialog.getByRole('button', { name: 'Regenerate', exact: true }).click();
    const fresh = await page.getByRole('textbox', { name: 'Your new token' }).inputValue();
    expect(fresh).toMatch(/^spk_/);
    expect(fresh).not.toBe(old);
    await page.getByRole('button', { name: 'Done' }).click();
    expect(await page.content()).not.toContain(fresh);
    await expect(page.getByRole('status').filter({ hasText: 'Cron' })).toHaveCount(0);

    expect((await graphql(request, old, WHO)).status()).toBe(200);
    const used = await request.post('/graphql', {
      headers: { Authorization: `Bearer ${fresh}`, 'Content-Type': 'application/json', 'User-Agent': 'cron/1.0' },
      data: { query: WHO },
    });
    expect(used.status()).toBe(200);
    expect((await graphql(request, old, WHO)).status()).toBe(401);

    await page.getByRole('link', { name: 'Cron' }).click();
    await expect(page.getByRole('table', { name: 'Events' }).getByRole('row', { name: /First used/ })).toContainText('cron/1.0');
  });
});
