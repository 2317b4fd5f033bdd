// What the run leaves behind: the server's SQLite file (and its -wal/-shm)
// holds none of the message texts while running (checked again after
// shutdown by the main script), and no page logged a console error other
// than the ones provoked on purpose. Runs last.
import { assert, checkConsole, checkDbHasNoText } from '../helpers.mjs';
import { existsSync } from 'node:fs';

/** @type {import('../helpers.mjs').Scenario} */
export default {
  name: 'no plaintext stored, no console errors',
  async run(t) {
    checkDbHasNoText(t.dbPath, 'while running');
    assert(existsSync(t.dbPath), 'database file exists');
    checkConsole(t.errors);
  },
};
