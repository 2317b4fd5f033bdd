// Identity and registration: alice and bob each create an identity (24-word
// phrase, a wrong word refused, 3-word check, passphrase) and register; both
// are told "admin" is reserved, bob is first told "alice" is taken (the one
// HTTP 409 the run provokes).
import { log, openWindow, signUp, PASS } from '../helpers.mjs';

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'identity + register',
  async run(t) {
    t.alice = await openWindow(t, 'alice');
    t.bob = await openWindow(t, 'bob');
    t.aliceWords = await signUp(t.alice.page, 'alice', PASS.alice, '', true);
    log('alice registered');
    await signUp(t.bob.page, 'bob', PASS.bob, 'alice');
    log('bob registered (after being told "alice" is taken)');
  },
};
