import { test, expect, Page, APIRequestContext } from '@playwright/test';
import { createToken, graphql, hydrated, signUp, signUpWithoutJavaScript } from './helpers';

// SPEC §12: a token for chosen streams, made in the New token dialog.

async function makeStreams(request: APIRequestContext, secret: string, names: string[]) {
  const ids: Record<string, string> = {};
  for (const name of names) {
    const created = await graphql(request, secret, `mutation { streamCreate(stream: { name: "${name}" }) }`);
    ids[name] = (await created.json()).data.streamCreate;
  }
  return ids;
}

async function reachOf(request: APIRequestContext, secret: string) {
  const answer = await graphql(request, secret, '{ tokenSelf { limitResources { id access } } }');
  const body = await answer.json();
  const streams: { id: string; access: string }[] = body.data.tokenSelf.limitResources;
  return streams.sort((a, b) => a.id.localeCompare(b.id));
}

async function openNewToken(page: Page, name: string) {
  await page.getByRole('button', { name: 'New token' }).click();
  const dialog = page.getByRole('dialog', { name: /New token/ });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByRole('checkbox', { name: 'streams:read', exact: true }).check();
  await dialog.getByRole('checkbox', { name: 'streams:write', exact: true }).check();
  return dialog;
}

test('a token for two streams, found by name, one of them read and write', async ({ page, request }) => {
  await signUp(page, 'Limited Lin');
  const { dialog: first, secret: full } = await createToken(page, 'Setup', ['streams:read', 'streams:write']);
  await first.getByRole('button', { name: 'Done' }).click();
  const ids = await makeStreams(request, full, ['Alpha tower', 'Beta bridge', 'Gamma depot']);
  await page.reload();
  await hydrated(page);

  const dialog = await openNewToken(page, 'Two streams');
  const streams = dialog.getByRole('group', { name: 'Streams' });
  await expect(streams.getByRole('radio', { name: 'All streams' })).toBeChecked();
  await expect(dialog.getByRole('searchbox', { name: 'Find a stream' })).toBeHidden();
  await streams.getByRole('radio', { name: 'Only selected streams' }).check();
  const find = dialog.getByRole('searchbox', { name: 'Find a stream' });
  await expect(find).toBeVisible();
  await find.fill('alpha');
  await expect(dialog.getByRole('checkbox', { name: 'Beta bridge' })).toHaveCount(0);
  await dialog.getByRole('checkbox', { name: 'Alpha tower' }).check();
  await dialog.getByRole('combobox', { name: 'Access to Alpha tower' }).selectOption({ label: 'Read and write' });
  await find.fill('beta');
  // What was ticked stays, with its level, whatever the search.
  await expect(dialog.getByRole('checkbox', { name: 'Alpha tower' })).toBeChecked();
  await expect(dialog.getByRole('combobox', { name: 'Access to Alpha tower' })).toHaveValue(/:write$/);
  await dialog.getByRole('checkbox', { name: 'Beta bridge' }).check();
  await expect(dialog.getByRole('combobox', { name: 'Access to Beta bridge' })).toHaveValue(/:read$/);
  await dialog.getByRole('button', { name: 'Create token' }).click();
  const secret = await dialog.getByRole('textbox', { name: 'Your new token' }).inputValue();
  await dialog.getByRole('button', { name: 'Done' }).click();

  const expected = [
    { id: ids['Alpha tower'], access: 'WRITE' },
    { id: ids['Beta bridge'], access: 'READ' },
  ].sort((a, b) => a.id.localeCompare(b.id));
  expect(await reachOf(request, secret)).toEqual(expected);
  const hidden = await graphql(request, secret, `{ stream(id: "${ids['Gamma depot']}") { name } }`);
  expect((await hidden.json()).errors[0].extensions.code).toBe('NOT_FOUND');
  await page.reload();
  await expect(page.getByRole('row', { name: /Two streams/ })).toContainText('2 streams');
  await expect(page.getByRole('row', { name: /Setup/ })).toContainText('All streams');
  await page.getByRole('link', { name: 'Two streams' }).click();
  const listed = page.getByRole('table', { name: 'Streams' });
  await expect(listed.getByRole('row', { name: /Alpha tower/ })).toContainText('Read and write');
  await expect(listed.getByRole('row', { name: /Beta bridge/ })).toContainText('Read');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the same dialog is a form: Find, tick, choose the access, create', async ({ page, request }) => {
    await signUpWithoutJavaScript(page, 'Plain Streams');
    const { secret: full } = await createToken(page, 'Setup', ['streams:read', 'streams:write']);
    await page.getByRole('button', { name: 'Done' }).click();
    const ids = await makeStreams(request, full, ['Alpha tower', 'Beta bridge']);
    await page.goto('/profile');

    await page.getByRole('button', { name: 'New token' }).click();
    let dialog = page.getByRole('dialog', { name: /New token/ });
    await dialog.getByRole('searchbox', { name: 'Find a stream' }).fill('alpha');
    await dialog.getByRole('button', { name: 'Find' }).click();
    await expect(page).toHaveURL(/find=alpha/);
    dialog = page.getByRole('dialog', { name: /New token/ });
    await expect(dialog.getByRole('radio', { name: 'Only selected streams' })).toBeChecked();
    await expect(dialog.getByRole('checkbox', { name: 'Beta bridge' })).toHaveCount(0);
    await dialog.getByLabel('Name').fill('One stream');
    await dialog.getByRole('checkbox', { name: 'streams:read', exact: true }).check();
    await dialog.getByRole('checkbox', { name: 'Alpha tower' }).check();
    await dialog.getByRole('combobox', { name: 'Access to Alpha tower' }).selectOption({ label: 'Read and write' });
    await dialog.getByRole('button', { name: 'Create token' }).click();
    const secret = await page.getByRole('textbox', { name: 'Your new token' }).inputValue();
    expect(secret).toMatch(/^spk_/);
    expect(await reachOf(request, secret)).toEqual([{ id: ids['Alpha tower'], access: 'WRITE' }]);
    await page.getByRole('button', { name: 'Done' }).click();
    await expect(page.getByRole('row', { name: /One stream/ })).toContainText('1 stream');
  });
});

test('a token that used less is offered Narrow, which regenerates it with exactly that', async ({ page, request }) => {
  // What a token used is written with its next use a minute on: this test waits for it.
  test.setTimeout(150_000);
  await signUp(page, 'Narrow Nia');
  const { dialog: first, secret: setup } = await createToken(page, 'Setup', ['streams:read', 'streams:write']);
  await first.getByRole('button', { name: 'Done' }).click();
  const ids = await makeStreams(request, setup, ['Used stream', 'Unused stream']);
  await page.reload();
  await hydrated(page);
  const { dialog, secret: job } = await createToken(page, 'Nightly job', ['streams:read', 'streams:write', 'profile:read']);
  await dialog.getByRole('button', { name: 'Done' }).click();
  const read = await graphql(request, job, `{ stream(id: "${ids['Used stream']}") { name } }`);
  expect((await read.json()).data.stream.name).toBe('Used stream');
  await page.waitForTimeout(61_000);
  await graphql(request, job, '{ tokenSelf { id } }');

  await page.getByRole('link', { name: 'Nightly job' }).click();
  await hydrated(page);
  await expect(page.getByRole('region', { name: 'This token could do less' })).toContainText('streams:read, on Used stream');
  await page.getByRole('button', { name: 'Narrow Nightly job' }).click();
  const narrow = page.getByRole('dialog', { name: 'Regenerate Nightly job' });
  await expect(narrow.getByRole('checkbox', { name: 'streams:read', exact: true })).toBeChecked();
  await expect(narrow.getByRole('checkbox', { name: 'streams:write', exact: true })).not.toBeChecked();
  await expect(narrow.getByRole('checkbox', { name: 'Used stream' })).toBeChecked();
  await narrow.getByRole('button', { name: 'Regenerate' }).click();
  const secret = await narrow.getByRole('textbox', { name: 'Your new token' }).inputValue();
  const seen = await (await graphql(request, secret, '{ tokenSelf { scopes limitResources { id access } } }')).json();
  expect(seen.data.tokenSelf.scopes).toEqual(['streams:read']);
  expect(seen.data.tokenSelf.limitResources).toEqual([{ id: ids['Used stream'], access: 'READ' }]);
});
