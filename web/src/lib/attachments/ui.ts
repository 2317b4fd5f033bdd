// The composer's side of sending files: prepare each picked, dropped or
// pasted file and hand it to the chat, turning refusals into sentences.
import { EmptyFileError, FileTooLargeError } from './sender';
import { prepareFile } from './prepare';

/** What sendFiles needs of the ChatStore. */
export interface FileSink {
  files: { send(peer: string, name: string, mime: string, bytes: Uint8Array): Promise<void> };
}

/**
 * Prepare and send `files` one after another (in order). A file that is
 * refused (too large, empty, unreadable) does not stop the others: resolves
 * with one line per refusal ("name: sentence" when several files were
 * picked), or null when every file went. The posts go on in the background.
 */
export async function sendFiles(chat: FileSink, peer: string, files: readonly File[]): Promise<string | null> {
  const refusals: string[] = [];
  for (const f of files) {
    try {
      const p = await prepareFile(f);
      // Resolves after the local echo; the file goes out in the background, in order.
      await chat.files.send(peer, p.name, p.mime, p.bytes);
    } catch (e) {
      const why = e instanceof FileTooLargeError || e instanceof EmptyFileError ? e.message : `Couldn’t read ${f.name || 'that file'}.`;
      refusals.push(files.length > 1 && !why.includes(f.name) ? `${f.name || 'A file'}: ${why}` : why);
    }
  }
  return refusals.length ? refusals.join('\n') : null;
}
