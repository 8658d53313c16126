import { defineConfig } from '@playwright/test';

// The release build, started on a fresh SQLite file by Playwright itself.
const port = Number(process.env.E2E_PORT ?? 3100);
const baseURL = `http://127.0.0.1:${port}`;
// A stand-in for GitHub's list of secret scanning keys (tests/keys-server.mjs).
const keysPort = Number(process.env.E2E_KEYS_PORT ?? 3199);
const database = process.env.E2E_DATABASE_URL ?? `sqlite://${process.env.E2E_DATA_DIR ?? '../target/e2e'}/e2e-${Date.now()}.db`;

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: true,
  workers: 2,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL,
    trace: 'off',
    launchOptions: {
      // Debian's Chromium: Playwright cannot download its own browser here.
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
  webServer: [{
    command: `node tests/keys-server.mjs ${keysPort}`,
    url: `http://127.0.0.1:${keysPort}/keys`,
    reuseExistingServer: false,
    timeout: 10_000,
  }, {
    command: process.env.E2E_SERVER ?? '../target/release/speckle-tokens',
    url: `${baseURL}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
    env: {
      DATABASE_URL: database,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: '../target/site',
      LEPTOS_ENV: 'PROD',
      RUST_LOG: 'warn',
      SECRET_SCANNING_KEYS_URL: `http://127.0.0.1:${keysPort}/keys`,
    },
  }],
});
