#!/usr/bin/env node
// Writes ../tests/vectors/envelope-v2.json: SPEC §8 envelope-v2 vectors with
// fixed seeds, ephemeral secrets and nonces. Run with `npm run vectors`.
// The crypto comes from src/lib (loaded through Vite's module runner so the
// TypeScript sources are used as-is); the Vitest suite re-checks the file.
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runnerImport } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.env.KEZ_VECTORS_OUT ?? resolve(here, '../../tests/vectors/envelope-v2.json'));

/** @param {string} path */
async function load(path) {
  const { module } = await runnerImport(resolve(here, path), { configFile: false });
  return module;
}

const env = await load('../src/lib/envelope.ts');
const id = await load('../src/lib/identity.ts');
const bytes = await load('../src/lib/bytes.ts');
const { jcs } = await load('../src/lib/jcs.ts');
const { SENT_TYPE } = await load('../src/lib/history/selfcopy.ts');
const attach = await load('../src/lib/attachments/body.ts');
const { sha256 } = await import('@noble/hashes/sha2.js');
const { x25519 } = await import('@noble/curves/ed25519.js');

/** Deterministic 32-byte values: SHA-256 of a label. @param {string} label */
const det = (label) => sha256(new TextEncoder().encode(`kez-chat test vector: ${label}`));
const hex = bytes.bytesToHex;

const NOW = '2026-05-25T03:00:30Z';
const alice = det('alice seed');
const bob = det('bob seed');
const carol = det('carol seed');
const P = { alice: id.primaryFromSeed(alice), bob: id.primaryFromSeed(bob), carol: id.primaryFromSeed(carol) };
const seeds = { alice, bob, carol };
/** @type {Record<string,string>} */
const handles = { alice: 'alice@kez.test', bob: 'bob@kez.test', carol: 'carol@kez.test' };

/** Message id: 22 chars b64url of 16 deterministic bytes. @param {string} label */
const mid = (label) => bytes.toB64url(det(`id ${label}`).subarray(0, 16));

/**
 * @param {object} c
 * @param {string} c.name
 * @param {string} c.description
 * @param {'alice'|'bob'|'carol'} c.sender
 * @param {'alice'|'bob'|'carol'} c.recipient   whose key the envelope is sealed to
 * @param {'alice'|'bob'|'carol'} [c.opener]    who tries to open it (default recipient)
 * @param {any} c.message                        the sealed message object (already signed)
 * @param {(e: any) => any} [c.tamper]           turns the sealed envelope into what the opener receives
 * @param {string} [c.rawPlaintext]              what the opener receives is this exact text sealed (same key and nonce)
 * @param {string[]} [c.seen_ids]
 * @param {{verdict: string, error?: string}} c.expected
 */
function makeCase(c) {
  const ephemeralSecret = det(`ephemeral ${c.name}`);
  const nonce = det(`nonce ${c.name}`).subarray(0, 12);
  const envelope = env.sealEnvelope(c.message, P[c.recipient], { ephemeralSecret, nonce });
  const rxPub = env.x25519PublicFromPrimary(P[c.recipient]);
  const epk = x25519.getPublicKey(ephemeralSecret);
  const shared = x25519.getSharedSecret(ephemeralSecret, rxPub);
  const key = env.deriveKey(shared, epk, rxPub);
  const { sig: _sig, ...unsigned } = c.message;
  const opener = c.opener ?? c.recipient;
  /** @type {any} */
  const out = {
    name: c.name,
    description: c.description,
    sender_seed: hex(seeds[c.sender]),
    sender_primary: P[c.sender],
    recipient_seed: hex(seeds[c.recipient]),
    recipient_primary: P[c.recipient],
    open_with_seed: hex(seeds[opener]),
    open_with_primary: P[opener],
    ephemeral_secret: hex(ephemeralSecret),
    nonce: hex(nonce),
    now: NOW,
    seen_ids: c.seen_ids ?? [],
    sealed_message: c.message,
    signing_input_jcs: jcs(unsigned),
    sealed_message_jcs: jcs(c.message),
    intermediate: {
      rx_pub: hex(rxPub),
      epk: hex(epk),
      shared: hex(shared),
      key: hex(key),
      aad: `${env.ENVELOPE_INFO}\n${hex(epk)}\n${P[c.recipient]}`,
    },
    envelope,
    envelope_json: jcs(envelope),
  };
  if (c.message.kind === 'ack') out.ack_signing_input = env.ackSignedString(c.message.body);
  if (c.tamper) out.open_input = c.tamper(structuredClone(envelope));
  if (c.rawPlaintext !== undefined) {
    out.open_input_plaintext = c.rawPlaintext;
    out.open_input = env.sealPlaintext(new TextEncoder().encode(c.rawPlaintext), P[c.recipient], { ephemeralSecret, nonce });
  }
  out.expected = c.expected;
  // Self-check: the generator must agree with openEnvelope.
  let got;
  try {
    env.openEnvelope(seeds[opener], out.open_input ?? envelope, {
      now: new Date(NOW),
      seen: (/** @type {string} */ x) => out.seen_ids.includes(x),
    });
    got = { verdict: 'accept' };
  } catch (e) {
    got = { verdict: 'reject', error: /** @type {any} */ (e).code ?? String(e) };
  }
  if (JSON.stringify(got) !== JSON.stringify(c.expected)) {
    throw new Error(`case ${c.name}: expected ${JSON.stringify(c.expected)}, got ${JSON.stringify(got)}`);
  }
  return out;
}

/** @param {'alice'|'bob'|'carol'} from @param {'alice'|'bob'|'carol'} to @param {Partial<import('../src/lib/envelope').MessageFields>} f */
const text = (from, to, f) =>
  env.signMessage(seeds[from], {
    kind: 'text',
    id: f.id ?? mid(`${from}->${to}`),
    from_handle: handles[from],
    to: f.to ?? P[to],
    sent_at: f.sent_at ?? '2026-05-25T03:00:00Z',
    body: f.body ?? 'hello',
  });

const firstId = mid('first text');
const emojiBody = 'Héllo Bob! 👋🏽 Grüße — 你好 ✓\nsecond line with "quotes" and \\ backslash';
const ACCEPT = { verdict: 'accept' };
/** @param {string} error */
const reject = (error) => ({ verdict: 'reject', error });

const flipHexChar = (/** @type {string} */ s, i = 0) => s.slice(0, i) + (s[i] === '0' ? '1' : '0') + s.slice(i + 1);

/** bob → alice ack for `ids`, signed honestly whatever the body says. @param {string[]} ids @param {string} label */
const ack = (ids, label) =>
  env.signMessage(bob, {
    kind: 'ack',
    id: mid(label),
    from_handle: handles.bob,
    to: P.alice,
    sent_at: '2026-05-25T03:00:15Z',
    body: ids.join(','),
  });

/** alice → bob text built field by field and signed as is (for shape cases). @param {Record<string, unknown>} changes */
function textWith(changes) {
  const unsigned = {
    type: 'kez.chat.message',
    version: 2,
    kind: 'text',
    id: mid(`shape ${JSON.stringify(changes)}`),
    from: P.alice,
    from_handle: handles.alice,
    to: P.bob,
    sent_at: '2026-05-25T03:00:00Z',
    body: 'shape games',
    ...changes,
  };
  return { ...unsigned, sig: id.signJcs(alice, unsigned) };
}

/** An ack whose ack_sig covers a different id, but whose outer sig is valid. */
function ackWithWrongAckSig() {
  const unsigned = {
    type: 'kez.chat.message',
    version: 2,
    kind: 'ack',
    id: mid('ack bad ack_sig'),
    from: P.bob,
    from_handle: handles.bob,
    to: P.alice,
    sent_at: '2026-05-25T03:00:20Z',
    body: firstId,
    ack_sig: id.signString(bob, env.ackSignedString(mid('some other message'))),
  };
  return { ...unsigned, sig: id.signJcs(bob, unsigned) };
}

/** A text message claiming to be from alice, signed by carol. */
function forgedFrom() {
  const unsigned = {
    type: 'kez.chat.message',
    version: 2,
    kind: 'text',
    id: mid('forged'),
    from: P.alice,
    from_handle: handles.alice,
    to: P.bob,
    sent_at: '2026-05-25T03:00:00Z',
    body: 'I am totally alice',
  };
  return { ...unsigned, sig: id.signJcs(carol, unsigned) };
}

/**
 * SPEC §8.3 self-copies: alice files a copy of what she sent bob, sealed to
 * herself. `changes` alter the body object (then re-JCS'd), `outer` the outer
 * fields; everything is signed as is.
 * @param {string} name @param {string} description @param {any} original
 * @param {{ body?: (b: any) => any, outer?: Record<string, unknown>, seal?: 'alice'|'bob', signer?: Uint8Array, expected: any }} o
 */
function sentCase(name, description, original, o) {
  let body = { type: SENT_TYPE, to: original.to, to_handle: handles.bob, message: original };
  if (o.body) body = o.body(body);
  const unsigned = {
    type: 'kez.chat.message',
    version: 2,
    kind: 'sent',
    id: original.id,
    from: P.alice,
    from_handle: handles.alice,
    to: P.alice,
    sent_at: original.sent_at,
    body: jcs(body),
    ...(o.outer ?? {}),
  };
  const message = { ...unsigned, sig: id.signJcs(o.signer ?? alice, unsigned) };
  const who = o.seal ?? 'alice';
  return makeCase({ name, description, sender: 'alice', recipient: who, message, expected: o.expected });
}

function sentCases() {
  const original = text('alice', 'bob', { id: mid('sent original'), body: 'hi bob, from my phone' });
  const inline = env.signMessage(alice, {
    kind: 'file',
    id: mid('sent inline'),
    from_handle: handles.alice,
    to: P.bob,
    sent_at: '2026-05-25T03:00:00Z',
    body: attach.inlineBody('hi.txt', 'text/plain', new TextEncoder().encode('hi'), hex(sha256(new TextEncoder().encode('hi')))),
  });
  const S = sentCase;
  const bad = reject('malformed_message');
  return [
    S('sent_text', 'alice files a self-copy of her text to bob, sealed to herself (SPEC §8.3)', original, { expected: ACCEPT }),
    S('sent_inline_file', 'a self-copy of an inline file alice sent bob', inline, { expected: ACCEPT }),
    S('sent_to_handle_null', 'a self-copy whose to_handle is null (the peer handle was unknown)', original, {
      body: (b) => ({ ...b, to_handle: null }),
      expected: ACCEPT,
    }),
    S('sent_outer_to_peer', 'a kind sent whose outer to is bob (from != to), sealed to bob', original, {
      outer: { to: P.bob },
      seal: 'bob',
      expected: bad,
    }),
    S('sent_original_not_own', "a copy holding carol's message to bob (message.from != from)", text('carol', 'bob', { id: mid('sent original') }), {
      expected: bad,
    }),
    S('sent_original_bad_sig', "the original's sig with its first hex char changed", { ...original, sig: flipHexChar(original.sig, 0) }, {
      expected: reject('bad_signature'),
    }),
    S('sent_original_ack', 'a copy of an ack (only text and file are copied)', ack([firstId], 'sent original ack'), {
      outer: { id: mid('sent original ack'), from: P.alice },
      expected: bad,
    }),
    S('sent_to_mismatch', 'body.to names carol, the original went to bob', original, { body: (b) => ({ ...b, to: P.carol }), expected: bad }),
    S('sent_note_to_self', 'a copy of a note to self (body.to == from): never made, refused', text('alice', 'alice', { id: mid('sent original') }), {
      expected: bad,
    }),
    S('sent_id_mismatch', "the outer id differs from the original's", original, { outer: { id: mid('other id') }, expected: bad }),
    S('sent_sent_at_mismatch', "the outer sent_at differs from the original's", original, {
      outer: { sent_at: '2026-05-25T03:00:01Z' },
      expected: bad,
    }),
    S('sent_body_extra_field', 'the body carries a field SPEC §8.3 does not define', original, { body: (b) => ({ ...b, note: 'x' }), expected: bad }),
    S('sent_body_no_to_handle', 'the body lacks to_handle (it must be present, null when unknown)', original, {
      body: ({ to_handle: _h, ...b }) => b,
      expected: bad,
    }),
    S('sent_body_wrong_type', 'the body type is not kez-sent-v1', original, { body: (b) => ({ ...b, type: 'kez-sent-v2' }), expected: bad }),
    S('sent_outer_forged', 'a self-copy to alice signed by carol (outer sig)', original, { signer: carol, expected: reject('bad_signature') }),
  ];
}

const cases = [
  makeCase({
    name: 'text_unicode',
    description: 'alice → bob text with non-ASCII, emoji (with skin-tone modifier), CJK, newline, quote and backslash',
    sender: 'alice',
    recipient: 'bob',
    message: text('alice', 'bob', { id: firstId, body: emojiBody }),
    expected: ACCEPT,
  }),
  makeCase({
    name: 'ack',
    description: "bob → alice delivery receipt for text_unicode's id; ack_sig signs \"kez.chat.ack.v1\\n<id>\"",
    sender: 'bob',
    recipient: 'alice',
    message: env.signMessage(bob, {
      kind: 'ack',
      id: mid('ack'),
      from_handle: handles.bob,
      to: P.alice,
      sent_at: '2026-05-25T03:00:10Z',
      body: firstId,
    }),
    expected: ACCEPT,
  }),
  makeCase({
    name: 'text_ascii',
    description: 'bob → alice plain ASCII text, sent_at 4 minutes ahead of now (inside the 5-minute window)',
    sender: 'bob',
    recipient: 'alice',
    message: text('bob', 'alice', { body: 'hi alice', sent_at: '2026-05-25T03:04:30Z' }),
    expected: ACCEPT,
  }),
  makeCase({
    name: 'wrong_recipient_inner_to',
    description: 'sealed to bob, but the signed inner `to` is carol: bob decrypts, then rejects',
    sender: 'alice',
    recipient: 'bob',
    message: text('alice', 'bob', { to: P.carol, body: 'meant for carol' }),
    expected: reject('wrong_recipient'),
  }),
  makeCase({
    name: 'wrong_recipient_key',
    description: 'sealed to bob, carol tries to open it: decryption fails',
    sender: 'alice',
    recipient: 'bob',
    opener: 'carol',
    message: text('alice', 'bob', { body: 'for bob only' }),
    expected: reject('decrypt_failed'),
  }),
  makeCase({
    name: 'tampered_ct',
    description: 'first ciphertext byte flipped in transit',
    sender: 'alice',
    recipient: 'bob',
    message: text('alice', 'bob', { body: 'do not touch' }),
    tamper: (e) => {
      const ct = bytes.fromB64url(e.ct);
      ct[0] ^= 0x01;
      return { ...e, ct: bytes.toB64url(ct) };
    },
    expected: reject('decrypt_failed'),
  }),
  makeCase({
    name: 'tampered_epk',
    description: 'epk replaced by another valid X25519 key (AAD and key both change)',
    sender: 'alice',
    recipient: 'bob',
    message: text('alice', 'bob', { body: 'epk swap' }),
    tamper: (e) => ({ ...e, epk: hex(x25519.getPublicKey(det('other ephemeral'))) }),
    expected: reject('decrypt_failed'),
  }),
  makeCase({
    name: 'bad_inner_sig',
    description: 'inner sig with its first hex char changed; encryption is intact',
    sender: 'alice',
    recipient: 'bob',
    message: (() => {
      const m = text('alice', 'bob', { body: 'sig broken' });
      return { ...m, sig: flipHexChar(m.sig, 0) };
    })(),
    expected: reject('bad_signature'),
  }),
  makeCase({
    name: 'forged_from',
    description: 'from = alice, but signed with carol\'s key',
    sender: 'carol',
    recipient: 'bob',
    message: forgedFrom(),
    expected: reject('bad_signature'),
  }),
  makeCase({
    name: 'bad_ack_sig',
    description: 'ack whose ack_sig covers a different id (outer sig valid)',
    sender: 'bob',
    recipient: 'alice',
    message: ackWithWrongAckSig(),
    expected: reject('bad_ack_signature'),
  }),
  makeCase({
    name: 'stale_sent_at',
    description: 'sent_at 7 days and 1 second before now',
    sender: 'alice',
    recipient: 'bob',
    message: text('alice', 'bob', { body: 'old news', sent_at: '2026-05-18T03:00:29Z' }),
    expected: reject('stale_sent_at'),
  }),
  makeCase({
    name: 'future_sent_at',
    description: 'sent_at 5 minutes and 1 second after now',
    sender: 'alice',
    recipient: 'bob',
    message: text('alice', 'bob', { body: 'from the future', sent_at: '2026-05-25T03:05:31Z' }),
    expected: reject('future_sent_at'),
  }),
  makeCase({
    name: 'replay',
    description: 'valid message whose id the recipient has already seen',
    sender: 'alice',
    recipient: 'bob',
    message: text('alice', 'bob', { id: mid('replayed'), body: 'again?' }),
    seen_ids: [mid('replayed')],
    expected: reject('replay'),
  }),
  makeCase({
    name: 'ack_batch',
    description: 'bob → alice receipt for three ids at once: body is the ids joined by commas, ack_sig signs "kez.chat.ack.v1\\n<body>"',
    sender: 'bob',
    recipient: 'alice',
    message: ack([firstId, mid('second text'), mid('third text')], 'ack batch'),
    expected: ACCEPT,
  }),
  makeCase({
    name: 'ack_duplicate_ids',
    description: 'an ack naming the same id twice (both signatures valid)',
    sender: 'bob',
    recipient: 'alice',
    message: ack([firstId, firstId], 'ack duplicate'),
    expected: reject('malformed_message'),
  }),
  makeCase({
    name: 'ack_body_not_an_id',
    description: 'an ack whose body is not a message id (too short; both signatures valid)',
    sender: 'bob',
    recipient: 'alice',
    message: ack(['too-short'], 'ack not an id'),
    expected: reject('malformed_message'),
  }),
  makeCase({
    name: 'ack_too_many_ids',
    description: `an ack naming ${env.MAX_ACK_IDS + 1} ids, one more than allowed (both signatures valid)`,
    sender: 'bob',
    recipient: 'alice',
    message: ack(
      Array.from({ length: env.MAX_ACK_IDS + 1 }, (_, i) => mid(`many ${i}`)),
      'ack too many',
    ),
    expected: reject('malformed_message'),
  }),
  makeCase({
    name: 'unknown_field',
    description: 'a text with one field SPEC §8 does not define, covered by a valid sig',
    sender: 'alice',
    recipient: 'bob',
    message: textWith({ reply_to: firstId }),
    expected: reject('malformed_message'),
  }),
  makeCase({
    name: 'text_with_ack_sig',
    description: 'a text carrying an ack_sig (only acks may), covered by a valid sig',
    sender: 'alice',
    recipient: 'bob',
    message: textWith({ ack_sig: id.signString(alice, env.ackSignedString(firstId)) }),
    expected: reject('malformed_message'),
  }),
  makeCase({
    name: 'id_not_a_message_id',
    description: 'a text whose id breaks the SPEC §7.1 rule (has a space), covered by a valid sig',
    sender: 'alice',
    recipient: 'bob',
    message: textWith({ id: 'not a message id!!' }),
    expected: reject('malformed_message'),
  }),
  makeCase({
    name: 'from_not_a_primary',
    description: 'a text whose from is not an ed25519:<64 hex> primary (upper-case hex)',
    sender: 'alice',
    recipient: 'bob',
    message: textWith({ from: P.alice.toUpperCase().replace('ED25519:', 'ed25519:') }),
    expected: reject('malformed_message'),
  }),
  ...(() => {
    // Plaintexts that are not exactly the JCS of a message: each parser
    // could read them differently, so both openers refuse them.
    const honest = textWith({ body: 'raw games' });
    const honestJcs = jcs(honest);
    const raw = (/** @type {string} */ name, /** @type {string} */ description, /** @type {string} */ text) =>
      makeCase({ name, description, sender: 'alice', recipient: 'bob', message: honest, rawPlaintext: text, expected: reject('malformed_message') });
    return [
      raw('plaintext_not_jcs', 'a validly signed message, pretty-printed instead of JCS', JSON.stringify(honest, null, 1)),
      raw(
        'plaintext_duplicate_key',
        'a validly signed message with a second "body" key in front of the real one',
        honestJcs.replace('"body":"raw games"', '"body":"decoy","body":"raw games"'),
      ),
      raw('plaintext_version_float', '"version": 2.0 instead of 2', honestJcs.replace('"version":2', '"version":2.0')),
      raw('plaintext_lone_surrogate', 'a body holding a lone UTF-16 surrogate escape', honestJcs.replace('"body":"raw games"', '"body":"\\ud800"')),
    ];
  })(),
  makeCase({
    name: 'text_with_null_ack_sig',
    description: 'a text with "ack_sig": null (only acks carry the field), covered by a valid sig',
    sender: 'alice',
    recipient: 'bob',
    message: textWith({ ack_sig: null }),
    expected: reject('malformed_message'),
  }),
  ...[
    ['sent_at_space', '2026-05-25 03:00:00Z', 'a space instead of T'],
    ['sent_at_leap_second', '2026-05-25T02:59:60Z', 'second 60'],
    ['sent_at_hour_24', '2026-05-24T24:00:00Z', 'hour 24'],
    ['sent_at_feb_30', '2026-02-30T03:00:00Z', 'a day February does not have'],
    ['sent_at_offset', '2026-05-25T05:00:00+02:00', 'an offset instead of Z'],
    ['sent_at_fraction', '2026-05-25T03:00:00.5Z', 'fractional seconds'],
  ].map(([name, sentAt, what]) =>
    makeCase({
      name,
      description: `sent_at "${sentAt}": ${what} (SPEC §8 wants YYYY-MM-DDTHH:MM:SSZ naming a real instant)`,
      sender: 'alice',
      recipient: 'bob',
      message: textWith({ sent_at: sentAt }),
      expected: reject('malformed_message'),
    }),
  ),
  ...sentCases(),
  makeCase({
    name: 'not_v2',
    description: 'a valid envelope relabelled v: 1',
    sender: 'alice',
    recipient: 'bob',
    message: text('alice', 'bob', { body: 'version games' }),
    tamper: (e) => ({ ...e, v: 1 }),
    expected: reject('not_v2'),
  }),
];

const doc = {
  description:
    'Envelope v2 (SPEC §8) vectors. For each case: sealEnvelope(sealed_message, recipient_primary, ephemeral_secret, nonce) ' +
    'must produce exactly `envelope` (byte-equal `envelope_json`, the JCS of the envelope), and opening `open_input` ' +
    '(or `envelope` when absent) with `open_with_seed` at time `now`, with `seen_ids` already seen, must give `expected`. ' +
    'Seeds and secrets are hex; `intermediate` holds X25519/HKDF values for debugging.',
  generator: 'web/scripts/gen-envelope-vectors.mjs',
  errors: {
    not_v2: 'envelope is not an object with v == 2',
    malformed_envelope: 'epk/nonce/ct not 64 hex / 24 hex / unpadded base64url (>= 16 bytes)',
    decrypt_failed: 'X25519, HKDF or AES-256-GCM (with AAD) failed',
    malformed_message:
      'plaintext is not a JSON sealed message of the SPEC §8 shape (for acks: body is 1-100 distinct message ids joined by commas; for sent: the SPEC §8.3 self-copy rules)',
    wrong_recipient: 'sealed message `to` is not the opener\'s primary',
    bad_signature: '`sig` does not verify strictly against `from` over the JCS of the message without `sig`',
    bad_ack_signature: 'kind ack and `ack_sig` does not verify against `from` over "kez.chat.ack.v1\\n<body>"',
    stale_sent_at: 'now - sent_at > 7 days',
    future_sent_at: 'sent_at - now > 5 minutes',
    replay: 'id already seen',
  },
  check_order: [
    'not_v2',
    'malformed_envelope',
    'decrypt_failed',
    'malformed_message',
    'wrong_recipient',
    'bad_signature',
    'bad_ack_signature',
    'stale_sent_at',
    'future_sent_at',
    'replay',
  ],
  cases,
};

mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
console.log(`wrote ${cases.length} cases to ${out}`);
