// A second kez server listening on a local nostr relay, as the nostr and
// attachments scenarios both need it (TODO #87): the relay, the server with
// `--nostr-relays` and a metrics port, and their teardown in one place; plus
// the reads of the relay (REQ) and of the metrics port those scenarios make.
import WebSocket from 'ws';
import { log, startServer } from './helpers.mjs';
import { freePort, portFree, startRelay } from './nostr-relay.mjs';

/**
 * NOSTR_RELAY_BIN, or undefined after logging that `part` is skipped. Under
 * KEZ_REQUIRE_NOSTR (scripts/test sets both) a missing relay is a failure.
 * @param {string} part
 */
export function relayBin(part) {
  const bin = process.env.NOSTR_RELAY_BIN;
  if (!bin && process.env.KEZ_REQUIRE_NOSTR) throw new Error(`${part}: KEZ_REQUIRE_NOSTR is set but NOSTR_RELAY_BIN is not`);
  if (!bin) log(`${part} SKIPPED: NOSTR_RELAY_BIN not set (scripts/test sets it)`);
  return bin;
}

/**
 * @typedef {object} RelayServer
 * @property {import('./nostr-relay.mjs').Relay} relay the relay now running (replaced by `relayUp`)
 * @property {ReturnType<typeof startServer>} server the second kez server
 * @property {string} metrics its metrics origin (`http://127.0.0.1:<port>`)
 * @property {import('playwright-core').BrowserContext[]} contexts closed at the end
 * @property {() => Promise<void>} relayDown kill the relay; resolves once its port is free
 * @property {() => Promise<void>} relayUp start it again on the same port and database
 */

/**
 * Starts a relay (`extra`: more relay config YAML) and a kez server on it
 * with a metrics port (`args`: more server flags), runs `body`, and then
 * closes the contexts `body` listed, stops the server and kills the relay,
 * whatever happened. With KEZ_E2E_VERBOSE a failure prints both logs.
 * @param {string} bin @param {{ extra?: string, args?: string[] }} opts
 * @param {(env: RelayServer) => Promise<void>} body
 */
export async function withRelayServer(bin, { extra = '', args = [] }, body) {
  const relay = await startRelay(bin, { extra });
  const metricsPort = await freePort();
  /** @type {RelayServer} */
  const env = {
    relay,
    server: startServer(['--nostr-relays', relay.url, '--metrics-bind', `127.0.0.1:${metricsPort}`, ...args]),
    metrics: `http://127.0.0.1:${metricsPort}`,
    contexts: [],
    relayDown: async () => {
      env.relay.kill();
      await portFree(env.relay.port);
    },
    relayUp: async () => {
      env.relay = await startRelay(bin, { dir: env.relay.dir, port: env.relay.port, extra });
    },
  };
  try {
    await body(env);
  } catch (e) {
    if (process.env.KEZ_E2E_VERBOSE) console.error(env.server.output(), env.relay.output());
    throw e;
  } finally {
    for (const ctx of env.contexts) await ctx.close().catch(() => {});
    await env.server.stop();
    env.server.cleanup();
    env.relay.kill();
    env.relay.cleanup();
  }
}

/**
 * The stored events of `filter` on the relay (REQ until EOSE, 10 s at most).
 * @param {string} url @param {object} filter
 * @returns {Promise<import('nostr-tools/pure').Event[]>}
 */
export function query(url, filter) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    /** @type {import('nostr-tools/pure').Event[]} */
    const got = [];
    const timer = setTimeout(() => (ws.close(), reject(new Error(`no EOSE from ${url}`))), 10_000);
    ws.on('open', () => ws.send(JSON.stringify(['REQ', 'q', filter])));
    ws.on('error', (e) => (clearTimeout(timer), reject(e)));
    ws.on('message', (m) => {
      const msg = JSON.parse(String(m));
      if (msg[0] === 'EVENT') got.push(msg[2]);
      if (msg[0] === 'EOSE') {
        clearTimeout(timer);
        ws.close();
        resolve(got);
      }
    });
  });
}

/** A counter from the metrics port (0 when absent). @param {string} metrics @param {string} name */
export async function metric(metrics, name) {
  const text = await (await fetch(`${metrics}/metrics`)).text();
  const m = new RegExp(`^${name}(?:_total)? (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}
