import { test, expect, Page } from '@playwright/test';
import { hydrated } from './helpers';

/** Collects every Content Security Policy violation the page reports. */
function cspViolations(page: Page) {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  return violations;
}

test('pages hydrate under their content security policy, with compressed static files cached for a year', async ({ page, baseURL }) => {
  const violations = cspViolations(page);
  const wasm = page.waitForResponse((response) => response.url().endsWith('.wasm'));
  const response = await page.goto('/login');
  const policy = response!.headers()['content-security-policy'];
  expect(policy).toContain("frame-ancestors 'none'");
  expect(policy).toMatch(/'nonce-[A-Za-z0-9_-]+'/);
  await hydrated(page);
  const wasmResponse = await wasm;
  expect(wasmResponse.url()).toMatch(new RegExp(`^${baseURL}/pkg/speckle-tokens\\.[A-Za-z0-9_-]+\\.wasm$`));
  expect(['br', 'gzip']).toContain(wasmResponse.headers()['content-encoding']);
  expect(wasmResponse.headers()['cache-control']).toContain('immutable');
  expect(violations).toEqual([]);
});

test('GraphiQL loads and introspects the schema with every other origin blocked', async ({ page, baseURL }) => {
  const violations = cspViolations(page);
  const elsewhere: string[] = [];
  await page.route((url) => !url.href.startsWith(baseURL!), (route) => {
    elsewhere.push(route.request().url());
    return route.abort();
  });
  const introspection = page.waitForResponse(
    (response) => response.url().endsWith('/graphql') && response.request().method() === 'POST',
  );
  await page.goto('/graphql');
  const answer = await introspection;
  expect(answer.status()).toBe(200);
  const body = await answer.json();
  expect(body.errors).toBeUndefined();
  expect(body.data.__schema.types.map((type: { name: string }) => type.name)).toContain('Stream');

  await page.getByRole('button', { name: /Show Documentation Explorer/ }).click();
  await expect(page.getByRole('link', { name: 'Query' })).toBeVisible();
  expect(elsewhere).toEqual([]);
  expect(violations).toEqual([]);
});
