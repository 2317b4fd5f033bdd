// What the nostr transport needs beyond the app's own code: nostr-tools'
// pool and events, secp256k1 (keys.ts), AUTH and announcements. transports.ts
// and profile/publish.ts load this with import() the first time an identity
// uses relays (about 20 kB gzipped), so the app's first load doesn't carry it.
export { verifyEvent } from 'nostr-tools/pure';
export { buildKezEvent } from './events';
export { announceOnce, fetchMaxMessageLength } from './announce';
export { buildMetadataEvent } from './hygiene';
export { nostrPublicKey, nostrSecretKey } from './keys';
export { NostrTransport } from './transport';
