import { test, expect } from '@playwright/test';
import { createToken, graphql, hydrated, signUp } from './helpers';

test('a stream created through the API with a dialog-made token shows on /streams', async ({ page, request }) => {
  await signUp(page);
  const { dialog, secret } = await createToken(page, 'Stream maker', ['streams:write']);
  await dialog.getByRole('button', { name: 'Done' }).click();

  const created = await graphql(request, secret, 'mutation { streamCreate(stream: { name: "Bridge model", description: "from a script" }) }');
  const body = await created.json();
  expect(body.errors).toBeUndefined();
  const streamId: string = body.data.streamCreate;
  const commit = await graphql(
    request,
    secret,
    `mutation { commitCreate(commit: { streamId: "${streamId}", objectId: "abc123", message: "First upload", sourceApplication: "script" }) }`,
  );
  expect((await commit.json()).errors).toBeUndefined();

  await page.goto('/streams');
  await hydrated(page);
  const row = page.getByRole('row', { name: /Bridge model/ });
  await expect(row).toContainText('stream:owner');
  await row.getByRole('link', { name: 'Bridge model' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Bridge model' })).toBeVisible();
  await expect(page.getByRole('row', { name: /First upload/ })).toBeVisible();
});
