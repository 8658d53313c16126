import { test, expect, Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { hydrated, signUp } from './helpers';

async function seriousViolations(page: Page) {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

test('sign-in and sign-up pages have no serious accessibility violations', async ({ page }) => {
  for (const path of ['/login', '/signup']) {
    await page.goto(path);
    await hydrated(page);
    expect(await seriousViolations(page), path).toEqual([]);
  }
});

test('the profile page and its dialogs have no serious accessibility violations', async ({ page }) => {
  await signUp(page);
  expect(await seriousViolations(page), '/profile').toEqual([]);

  await page.getByRole('button', { name: 'New token' }).click();
  const dialog = page.getByRole('dialog', { name: /New token/ });
  await expect(dialog).toBeVisible();
  expect(await seriousViolations(page), 'New token dialog').toEqual([]);

  await dialog.getByLabel('Name').fill('Audit');
  await dialog.getByRole('checkbox', { name: 'users:read', exact: true }).check();
  await dialog.getByRole('button', { name: 'Create token' }).click();
  await expect(dialog.getByRole('textbox', { name: 'Your new token' })).toBeVisible();
  expect(await seriousViolations(page), 'secret dialog').toEqual([]);
  await dialog.getByRole('button', { name: 'Done' }).click();

  await page.getByRole('button', { name: 'Revoke Audit' }).click();
  await expect(page.getByRole('button', { name: 'Revoke token' })).toBeVisible();
  expect(await seriousViolations(page), 'revoke dialog').toEqual([]);
});
