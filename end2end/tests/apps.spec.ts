import { test, expect, Page, APIRequestContext } from '@playwright/test';
import { createHash, randomBytes } from 'node:crypto';
import { graphql, hydrated, signUp, signUpWithoutJavaScript } from './helpers';

// An app on this computer: its redirect is a loopback address, any port (RFC 8252).
const CALLBACK = 'http://127.0.0.1:47213/callback';

/** Registers an app in the `New app` dialog; answers its client id and secret, read once. */
async function registerApp(page: Page, name: string, scopes: string[]) {
  await page.getByRole('button', { name: 'New app' }).click();
  const dialog = page.getByRole('dialog', { name: 'New app' });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByLabel('Description').fill('Checks models for clashes.');
  await dialog.getByLabel('Redirect URLs').fill('http://127.0.0.1/callback');
  for (const scope of scopes) {
    await dialog.getByRole('checkbox', { name: scope, exact: true }).check();
  }
  await dialog.getByRole('button', { name: 'Create app' }).click();
  const clientId = await page.getByRole('textbox', { name: 'Client ID' }).inputValue();
  const secret = await page.getByRole('textbox', { name: 'Client secret' }).inputValue();
  expect(secret).toMatch(/^spkcs_/);
  return { dialog: page.getByRole('dialog'), clientId, secret };
}

/** Opens the app's authorization request as the app would, the browser's callback caught. */
async function askConsent(page: Page, clientId: string, scope: string) {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(8).toString('hex');
  await page.route(`${CALLBACK}**`, (route) => route.fulfill({ body: 'The app got its answer.' }));
  const query = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: CALLBACK,
    scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  await page.goto(`/oauth/authorize?${query}`);
  return { verifier, state };
}

/** The query the app's callback received. */
async function answered(page: Page): Promise<URLSearchParams> {
  await page.waitForURL(`${CALLBACK}**`);
  return new URL(page.url()).searchParams;
}

async function exchange(request: APIRequestContext, clientId: string, secret: string, code: string, verifier: string) {
  const answer = await request.post('/oauth/token', {
    form: {
      grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK,
      client_id: clientId, client_secret: secret,
    },
  });
  expect(answer.status()).toBe(200);
  return (await answer.json()).access_token as string;
}

test('a developer registers an app, a person authorizes it, sees it and revokes its access', async ({ page, request }) => {
  await signUp(page, 'Grace Hopper');
  const { dialog, clientId, secret } = await registerApp(page, 'Clash Checker', ['streams:read', 'profile:read']);
  await expect(dialog.getByText(/first and last time this secret is shown/)).toBeVisible();
  await expect(dialog.getByRole('button', { name: 'Copy' })).toBeVisible();
  await dialog.getByRole('button', { name: 'Done' }).click();
  await expect(dialog).toBeHidden();
  const developerApps = page.getByRole('table', { name: 'Apps you have registered' });
  await expect(developerApps.getByRole('row', { name: /Clash Checker/ })).toContainText(clientId);
  await page.reload();
  await hydrated(page);
  expect(await page.content()).not.toContain(secret);

  // Deny: the app hears access_denied, with its state.
  let asked = await askConsent(page, clientId, 'streams:read profile:read');
  await expect(page.getByRole('heading', { level: 1, name: 'Authorize Clash Checker' })).toBeVisible();
  await expect(page.getByText('Grace Hopper').first()).toBeVisible();
  await hydrated(page);
  await page.getByRole('button', { name: 'Deny' }).click();
  let reply = await answered(page);
  expect(reply.get('error')).toBe('access_denied');
  expect(reply.get('state')).toBe(asked.state);

  // Authorize: a code, exchanged with the verifier and secret for a working token.
  asked = await askConsent(page, clientId, 'streams:read profile:read');
  await hydrated(page);
  await page.getByRole('button', { name: 'Authorize' }).click();
  reply = await answered(page);
  expect(reply.get('state')).toBe(asked.state);
  expect(reply.get('iss')).toBeTruthy();
  const access = await exchange(request, clientId, secret, reply.get('code')!, asked.verifier);
  expect((await graphql(request, access, '{ activeUser { name } }')).status()).toBe(200);

  await page.goto('/profile');
  await hydrated(page);
  const authorized = page.getByRole('table', { name: 'Apps you have authorized' });
  const row = authorized.getByRole('row', { name: /Clash Checker/ });
  await expect(row).toContainText('Grace Hopper');
  await expect(row).toContainText('streams:read');
  await page.getByRole('button', { name: 'Revoke access Clash Checker' }).click();
  const confirm = page.getByRole('dialog');
  await expect(confirm).toContainText(/stop working at once/);
  await confirm.getByRole('button', { name: 'Revoke access' }).click();
  await expect(confirm).toBeHidden();
  await expect(page.getByText('You have not authorized any apps.')).toBeVisible();
  expect((await graphql(request, access, '{ activeUser { name } }')).status()).toBe(401);
});

test('a developer regenerates the secret, edits and deletes an app', async ({ page, request }) => {
  await signUp(page, 'Ada Lovelace');
  const { dialog, clientId, secret } = await registerApp(page, 'Model Exporter', ['profile:read']);
  await dialog.getByRole('button', { name: 'Done' }).click();

  await page.getByRole('button', { name: 'Regenerate secret Model Exporter' }).click();
  const regenerate = page.getByRole('dialog');
  await expect(regenerate).toContainText(/stops working at once/);
  await regenerate.getByRole('button', { name: 'Regenerate secret' }).click();
  const renewed = await regenerate.getByRole('textbox', { name: 'Client secret' }).inputValue();
  expect(renewed).toMatch(/^spkcs_/);
  expect(renewed).not.toBe(secret);
  await regenerate.getByRole('button', { name: 'Done' }).click();
  await expect(regenerate).toBeHidden();
  // The old secret no longer identifies the app.
  const refused = await request.post('/oauth/token', {
    form: { grant_type: 'authorization_code', code: 'x', code_verifier: 'y'.repeat(43), client_id: clientId, client_secret: secret },
  });
  expect(refused.status()).toBe(401);

  await page.getByRole('button', { name: 'Edit Model Exporter' }).click();
  const edit = page.getByRole('dialog', { name: /Edit Model Exporter/ });
  await expect(edit.getByLabel('Name')).toHaveValue('Model Exporter');
  await expect(edit.getByLabel('Redirect URLs')).toHaveValue('http://127.0.0.1/callback');
  await expect(edit.getByRole('checkbox', { name: 'profile:read', exact: true })).toBeChecked();
  await edit.getByLabel('Name').fill('Model Exporter 2');
  await edit.getByRole('button', { name: 'Save' }).click();
  await expect(edit).toBeHidden();
  await expect(page.getByRole('row', { name: /Model Exporter 2/ })).toBeVisible();

  await page.getByRole('button', { name: 'Delete Model Exporter 2' }).click();
  const remove = page.getByRole('dialog');
  await expect(remove).toContainText(/cannot be undone/);
  await remove.getByRole('button', { name: 'Delete app' }).click();
  await expect(page.getByText('You have not registered any apps.')).toBeVisible();
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the secret is shown once, consent is a form and access is revoked by form posts', async ({ page, request }) => {
    await signUpWithoutJavaScript(page, 'Plain Author');
    const { clientId, secret } = await registerApp(page, 'Form App', ['profile:read']);
    await page.getByRole('button', { name: 'Done' }).click();
    expect(await page.content()).not.toContain(secret);

    const asked = await askConsent(page, clientId, 'profile:read');
    await page.getByRole('button', { name: 'Authorize' }).click();
    const reply = await answered(page);
    const access = await exchange(request, clientId, secret, reply.get('code')!, asked.verifier);
    expect((await graphql(request, access, '{ activeUser { name } }')).status()).toBe(200);

    await page.goto('/profile');
    await page.getByRole('button', { name: 'Revoke access Form App' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke access' }).click();
    await expect(page.getByText('You have not authorized any apps.')).toBeVisible();
    expect((await graphql(request, access, '{ activeUser { name } }')).status()).toBe(401);
  });
});

/** A command-line tool starts the device grant as Speckle's scripts app; answers its codes. */
async function startDevice(request: APIRequestContext) {
  const answer = await request.post('/oauth/device_authorization', {
    form: { client_id: 'sca', scope: 'streams:read profile:read' },
  });
  expect(answer.status()).toBe(200);
  return await answer.json() as { device_code: string, user_code: string, verification_uri: string };
}

async function poll(request: APIRequestContext, deviceCode: string) {
  return request.post('/oauth/token', {
    form: { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: deviceCode, client_id: 'sca' },
  });
}

test('a person types a device code on /device, sees the app beside it and authorizes or denies', async ({ page, request }) => {
  await signUp(page, 'Device Owner');
  const device = await startDevice(request);
  expect((await (await poll(request, device.device_code)).json()).error).toBe('authorization_pending');

  await page.goto(new URL(device.verification_uri).pathname);
  await hydrated(page);
  await page.getByRole('textbox', { name: 'Code' }).fill(device.user_code.toLowerCase());
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByRole('textbox', { name: 'Code' })).toHaveAccessibleDescription(/for Speckle/);
  await expect(page.getByRole('heading', { level: 2, name: /^Authorize Speckle/ })).toBeVisible();
  await expect(page.getByText('streams:read')).toBeVisible();
  await hydrated(page);
  await page.getByRole('button', { name: 'Authorize' }).click();
  await expect(page.getByRole('status')).toContainText('may now act for you');
  const tokens = await poll(request, device.device_code);
  expect(tokens.status()).toBe(200);
  const access = (await tokens.json()).access_token as string;
  expect((await graphql(request, access, '{ activeUser { name } }')).status()).toBe(200);

  const refused = await startDevice(request);
  await page.goto(`/device?user_code=${refused.user_code}`);
  await hydrated(page);
  await page.getByRole('button', { name: 'Deny' }).click();
  await expect(page.getByRole('status')).toContainText('You refused');
  expect((await (await poll(request, refused.device_code)).json()).error).toBe('access_denied');

  await page.goto('/device?user_code=BCDF-GHJK');
  await expect(page.getByRole('alert')).toContainText('No device waits for this code');
});

test.describe('the device page without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the code is a GET form and the answer a form post', async ({ page, request }) => {
    await signUpWithoutJavaScript(page, 'Plain Device');
    const device = await startDevice(request);
    await page.goto('/device');
    await page.getByRole('textbox', { name: 'Code' }).fill(device.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Authorize' }).click();
    await expect(page.getByRole('status')).toContainText('may now act for you');
    expect((await poll(request, device.device_code)).status()).toBe(200);
  });
});
