import { test, expect } from '@playwright/test';
import { createToken, graphql, hydrated, signUp } from './helpers';

test('objects sent and a commit made through the API with a dialog-made token show on the stream page', async ({ page, request }) => {
  await signUp(page);
  const { dialog, secret } = await createToken(page, 'Stream maker', ['streams:write']);
  await dialog.getByRole('button', { name: 'Done' }).click();

  const created = await graphql(request, secret, 'mutation { streamCreate(stream: { name: "Bridge model", description: "from a script" }) }');
  const body = await created.json();
  expect(body.errors).toBeUndefined();
  const streamId: string = body.data.streamCreate;

  // Two objects through the object transport, as Speckle's clients send them.
  const child = { id: 'c'.repeat(32), speckle_type: 'Base', span: 42 };
  const root = { id: 'r'.repeat(32), speckle_type: 'Base', name: 'deck', '@child': { referencedId: child.id }, __closure: { [child.id]: 1 } };
  const upload = await request.post(`/objects/${streamId}`, {
    headers: { Authorization: `Bearer ${secret}` },
    multipart: { 'batch-1': { name: 'batch-1', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify([child, root])) } },
  });
  expect(upload.status()).toBe(201);

  const commit = await graphql(
    request,
    secret,
    `mutation { commitCreate(commit: { streamId: "${streamId}", branchName: "main", objectId: "${root.id}", message: "First upload", sourceApplication: "script" }) }`,
  );
  expect((await commit.json()).errors).toBeUndefined();

  await page.goto('/streams');
  await hydrated(page);
  const row = page.getByRole('row', { name: /Bridge model/ });
  await expect(row).toContainText('stream:owner');
  await row.getByRole('link', { name: 'Bridge model' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Bridge model' })).toBeVisible();
  await expect(page.getByText('This stream holds 2 objects.')).toBeVisible();
  const main = page.getByRole('region', { name: /^main/ });
  await expect(main.getByRole('heading', { level: 3 })).toHaveText('main (1 commit)');
  const commitRow = main.getByRole('row', { name: /First upload/ });
  await expect(commitRow).toContainText('script');
  await expect(commitRow).toContainText(root.id);
});

test('invitations wait on /streams, with a button to accept and one to decline each', async ({ page, browser, request }) => {
  // The invitee has an account, in a browser of their own.
  const guestContext = await browser.newContext();
  const guest = await guestContext.newPage();
  const { email } = await signUp(guest, 'Grace Guest');

  await signUp(page, 'Owen Owner');
  const { dialog, secret } = await createToken(page, 'Inviter', ['streams:write', 'users:invite']);
  await dialog.getByRole('button', { name: 'Done' }).click();
  for (const name of ['Harbour plan', 'Lighthouse plan']) {
    const created = await graphql(request, secret, `mutation { streamCreate(stream: { name: "${name}" }) }`);
    const id: string = (await created.json()).data.streamCreate;
    const invited = await graphql(
      request,
      secret,
      `mutation { streamInviteCreate(input: { streamId: "${id}", email: "${email}", role: "stream:reviewer" }) }`,
    );
    expect((await invited.json()).errors).toBeUndefined();
  }

  await guest.goto('/streams');
  await hydrated(guest);
  const invitations = guest.getByRole('region', { name: 'Invitations' });
  await expect(invitations).toContainText('Owen Owner invited you to Harbour plan as stream:reviewer');
  await invitations.getByRole('button', { name: 'Accept invitation to Harbour plan' }).click();
  await expect(guest.getByRole('row', { name: /Harbour plan/ })).toContainText('stream:reviewer');
  await invitations.getByRole('button', { name: 'Decline invitation to Lighthouse plan' }).click();
  await expect(invitations).toBeHidden();
  await expect(guest.getByRole('row', { name: /Lighthouse plan/ })).toHaveCount(0);
  await guestContext.close();
});
