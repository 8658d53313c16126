import { test, expect } from '@playwright/test';
import { graphql, signUpWithoutJavaScript } from './helpers';

test.use({ javaScriptEnabled: false });

test('without JavaScript every step is a plain form post', async ({ page, request }) => {
  await signUpWithoutJavaScript(page);

  await page.getByRole('button', { name: 'New token' }).click();
  const dialog = page.getByRole('dialog', { name: /New token/ });
  await dialog.getByLabel('Name').fill('Cron job');
  await dialog.getByRole('checkbox', { name: 'profile:read', exact: true }).check();
  await dialog.getByRole('button', { name: 'Create token' }).click();
  const secret = await page.getByRole('textbox', { name: 'Your new token' }).inputValue();
  expect(secret).toMatch(/^spk_/);
  expect((await graphql(request, secret, '{ activeUser { name } }')).status()).toBe(200);

  await page.getByRole('button', { name: 'Done' }).click();
  expect(await page.content()).not.toContain(secret);
  await page.getByRole('button', { name: 'Revoke Cron job' }).click();
  await page.getByRole('button', { name: 'Revoke token' }).click();
  await expect(page.getByRole('row', { name: /Cron job/ })).toHaveCount(0);
  expect((await graphql(request, secret, '{ activeUser { name } }')).status()).toBe(401);
});
