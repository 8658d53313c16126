import { test, expect } from '@playwright/test';
import { sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createToken, graphql, hydrated, signUp } from './helpers';

const WHO = '{ activeUser { name } }';

test('a signed secret scanning alert revokes the token and the owner sees why on /profile', async ({ page, request }) => {
  await signUp(page);
  const { dialog, secret } = await createToken(page, 'Pushed by mistake', ['profile:read']);
  await dialog.getByRole('button', { name: 'Done' }).click();

  const body = JSON.stringify([{
    token: secret,
    type: 'speckle_personal_access_token',
    url: 'https://github.com/octocat/oops/blob/main/.env',
    source: 'content',
  }]);
  const key = readFileSync(join(__dirname, '../../target/e2e/scanning-key.pem'), 'utf8');
  const signature = sign('sha256', Buffer.from(body), key).toString('base64');
  const answer = await request.post('/api/secret-scanning/verify', {
    headers: {
      'Content-Type': 'application/json',
      'Github-Public-Key-Identifier': 'e2e-key',
      'Github-Public-Key-Signature': signature,
    },
    data: body,
  });
  expect(answer.status()).toBe(200);
  expect((await answer.json())[0].label).toBe('true_positive');
  expect((await graphql(request, secret, WHO)).status()).toBe(401);

  await page.reload();
  await hydrated(page);
  const alert = page.getByRole('alert').filter({ hasText: 'Pushed by mistake' });
  await expect(alert).toBeVisible();
  await expect(alert).toContainText('https://github.com/octocat/oops/blob/main/.env');
  await expect(page.getByRole('row', { name: /Pushed by mistake/ })).toHaveCount(0);
  await alert.getByRole('button', { name: /Dismiss/ }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Pushed by mistake' })).toHaveCount(0);
  await page.reload();
  await expect(page.getByRole('alert').filter({ hasText: 'Pushed by mistake' })).toHaveCount(0);
});

test('revoke all tokens, after a confirmation', async ({ page, request }) => {
  await signUp(page);
  const first = await createToken(page, 'One', ['profile:read']);
  await first.dialog.getByRole('button', { name: 'Done' }).click();
  const second = await createToken(page, 'Two', ['profile:read']);
  await second.dialog.getByRole('button', { name: 'Done' }).click();

  await page.getByRole('button', { name: 'Revoke all tokens' }).click();
  const confirm = page.getByRole('dialog', { name: /Revoke all tokens/ });
  await expect(confirm).toBeVisible();
  await expect(confirm).toContainText(/stops working/);
  await confirm.getByRole('button', { name: 'Revoke all', exact: true }).click();
  await expect(confirm).toBeHidden();
  await expect(page.getByText('You have no tokens yet.')).toBeVisible();
  for (const secret of [first.secret, second.secret]) {
    expect((await graphql(request, secret, WHO)).status()).toBe(401);
  }
});

test('change password signs out every other session', async ({ page, browser }) => {
  const { email } = await signUp(page);
  const other = await browser.newContext();
  const elsewhere = await other.newPage();
  await elsewhere.goto('/login');
  await hydrated(elsewhere);
  await elsewhere.getByLabel('Email').fill(email);
  await elsewhere.getByLabel('Password').fill('correct horse battery staple');
  await elsewhere.getByRole('button', { name: 'Sign in' }).click();
  await expect(elsewhere).toHaveURL(/\/profile$/);

  await page.getByLabel('Current password').fill('correct horse battery staple');
  await page.getByLabel('New password').fill('an entirely new passphrase');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'password was changed' })).toBeVisible();

  await elsewhere.goto('/profile');
  await expect(elsewhere).toHaveURL(/\/login/);
  await page.reload();
  await expect(page.getByRole('heading', { level: 2, name: 'Your Apps' })).toBeVisible();
  await other.close();
});
