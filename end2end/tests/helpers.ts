import { expect, Page, APIRequestContext } from '@playwright/test';

export const DOCS_QUERY = '{ user { id suuid streams { totalCount } } }';

/** Waits until the WASM has hydrated the page; a click before that hits a dead button. */
export async function hydrated(page: Page) {
  await expect(page.locator('html[data-hydrated]')).toHaveCount(1);
}

/** Signs up a new user through /signup and lands on /profile. */
export async function signUp(page: Page, name = 'Ada Lovelace') {
  const email = `user-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
  await page.goto('/signup');
  await hydrated(page);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('correct horse battery staple');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByRole('heading', { level: 2, name: 'Your Apps' })).toBeVisible();
  await hydrated(page);
  return { email };
}

/** Signs up with JavaScript off (no hydration to wait for) and lands on /profile. */
export async function signUpWithoutJavaScript(page: Page, name = 'Plain Form') {
  const email = `nojs-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
  await page.goto('/signup');
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('correct horse battery staple');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page).toHaveURL(/\/profile$/);
  return { email };
}

/** Creates a token in the New token dialog and returns its secret, read from the page. */
export async function createToken(page: Page, name: string, scopes: string[]) {
  await page.getByRole('button', { name: 'New token' }).click();
  const dialog = page.getByRole('dialog', { name: /New token/ });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Name').fill(name);
  for (const scope of scopes) {
    await dialog.getByRole('checkbox', { name: scope, exact: true }).check();
  }
  await dialog.getByRole('button', { name: 'Create token' }).click();
  const secretBox = dialog.getByRole('textbox', { name: 'Your new token' });
  await expect(secretBox).toBeVisible();
  const secret = await secretBox.inputValue();
  expect(secret).toMatch(/^spk_[A-Za-z0-9]{36}$/);
  return { dialog, secret };
}

/** Sends a GraphQL query with a bearer token, as the docs' fetch example does. */
export async function graphql(request: APIRequestContext, token: string, query: string) {
  return request.post('/graphql', {
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    data: { query },
  });
}
