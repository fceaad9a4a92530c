// Launching Debian's Chromium for the end-to-end tests: one place for the flags every test
// needs on this offline machine, and for the user agent.
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

/** Path of the browser (`CHROMIUM`, default Debian's). */
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** The browser's major version, e.g. `156` (130 when it cannot be asked). */
export function chromiumMajor() {
  try {
    return (execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).match(/(\d+)\.\d+\.\d+\.\d+/) || [])[1] || '130';
  } catch {
    return '130';
  }
}

/** A normal desktop Chrome user agent of this browser's version: the server flags
 * HeadlessChrome as a bot. */
export function desktopUserAgent(major = chromiumMajor()) {
  return `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${major}.0.0.0 Safari/537.36`;
}

/** Exit code of a scenario whose browser exited under it (a crash, not a failed check): the
 * test harness (`tests/common/mod.rs` `run_e2e`) prints the browser's own log and runs such
 * a scenario once more. */
export const BROWSER_CRASHED = 75;

let crashed = false;
process.on('exit', (code) => {
  if (crashed && code !== 0) process.exitCode = BROWSER_CRASHED;
});

/** Launch headless Chromium with `userAgent` on the command line too (a context's override
 * does not reach beacons sent while a page unloads), automation hidden, and every host but
 * 127.0.0.1 failing at once (the pages link fonts and images on the internet; this machine
 * is offline). A browser that exits before the scenario closes it makes the scenario's
 * failure exit with `BROWSER_CRASHED`. */
export async function launchChromium(userAgent = desktopUserAgent()) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync', '--disable-blink-features=AutomationControlled',
      `--user-agent=${userAgent}`, '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
  let closing = false;
  const close = browser.close.bind(browser);
  browser.close = (...args) => { closing = true; return close(...args); };
  browser.on('disconnected', () => {
    if (closing) return;
    crashed = true;
    console.error('chromium exited while the scenario still used it');
  });
  return browser;
}
