import { test, expect } from '@playwright/test';
import { createToken, DOCS_QUERY, graphql, hydrated, signUp } from './helpers';

test('create a token, use it, see it listed without its secret, revoke it', async ({ page, request }) => {
  await signUp(page);
  const { dialog, secret } = await createToken(page, 'Laptop script', ['profile:read', 'streams:read']);
  await expect(dialog.getByText(/first and last time/)).toBeVisible();
  await expect(dialog.getByRole('button', { name: 'Copy' })).toBeVisible();

  const answer = await graphql(request, secret, DOCS_QUERY);
  expect(answer.status()).toBe(200);
  const body = await answer.json();
  expect(body.data.user.streams.totalCount).toBe(0);
  expect(typeof body.data.user.id).toBe('string');

  await dialog.getByRole('button', { name: 'Done' }).click();
  await expect(dialog).toBeHidden();
  const row = page.getByRole('row', { name: /Laptop script/ });
  await expect(row).toBeVisible();
  await expect(row).toContainText('profile:read');
  await expect(row).toContainText(secret.slice(-4));

  // After a reload the secret is nowhere in the page, not even in hydration data.
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole('row', { name: /Laptop script/ })).toContainText(/\d{4}/);
  expect(await page.content()).not.toContain(secret);

  await page.getByRole('button', { name: 'Revoke Laptop script' }).click();
  const confirm = page.getByRole('dialog');
  await expect(confirm).toContainText(/stop working/);
  await confirm.getByRole('button', { name: 'Revoke token' }).click();
  await expect(page.getByRole('row', { name: /Laptop script/ })).toHaveCount(0);

  const refused = await graphql(request, secret, DOCS_QUERY);
  expect(refused.status()).toBe(401);
  expect(refused.headers()['www-authenticate']).toBe('Bearer error="invalid_token"');
  expect(await refused.json()).toEqual({
    errors: [{ message: 'Your token is not valid.', extensions: { code: 'UNAUTHENTICATED' } }],
  });
});

test('an empty name or no scope is refused inside the dialog and creates nothing', async ({ page }) => {
  await signUp(page);
  await page.getByRole('button', { name: 'New token' }).click();
  const dialog = page.getByRole('dialog', { name: /New token/ });
  await dialog.getByRole('checkbox', { name: 'streams:read', exact: true }).check();
  await dialog.getByRole('button', { name: 'Create token' }).click();
  await expect(dialog.getByRole('alert')).toContainText('Give the token a name.');

  await dialog.getByLabel('Name').fill('No scopes');
  await dialog.getByRole('checkbox', { name: 'streams:read', exact: true }).uncheck();
  await dialog.getByRole('button', { name: 'Create token' }).click();
  await expect(dialog.getByRole('alert')).toContainText('Choose at least one scope.');
  await expect(dialog.getByRole('textbox', { name: 'Your new token' })).toHaveCount(0);

  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await page.reload();
  await expect(page.getByText('You have no tokens yet.')).toBeVisible();
});

test('the dialog is modal, takes focus, closes on Escape and gives focus back', async ({ page }) => {
  await signUp(page);
  const opener = page.getByRole('button', { name: 'New token' });
  await opener.click();
  const dialog = page.getByRole('dialog', { name: /New token/ });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel('Name')).toBeFocused();
  // Every scope is offered, each with its description beside it.
  for (const scope of ['streams:read', 'streams:write', 'profile:read', 'profile:write', 'profile:email', 'users:read', 'users:invite', 'tokens:read', 'tokens:write']) {
    await expect(dialog.getByRole('checkbox', { name: scope, exact: true })).toBeVisible();
  }
  const expiration = dialog.getByLabel('Expiration');
  await expect(expiration).toHaveValue('90');
  await expect(expiration.locator('option')).toHaveText(['7 days', '30 days', '90 days', '1 year', 'No expiration']);
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(opener).toBeFocused();
});

test('signed-out visitors are sent to sign in, and come back to their page', async ({ page }) => {
  await page.goto('/profile');
  await expect(page).toHaveURL(/\/login\?next=\/profile$/);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
});

test('sign out, then sign in again with the wrong and the right password', async ({ page }) => {
  const { email } = await signUp(page, 'Grace Hopper');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sign in' })).toBeVisible();

  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Invalid email or password.');
  await page.getByLabel('Password').fill('correct horse battery staple');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByText(email)).toBeVisible();
});
