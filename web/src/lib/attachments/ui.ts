// The composer's side of sending files: prepare each picked, dropped or
// pasted file and hand it to the chat, turning refusals into sentences.
import { EmptyFileError, FileTooLargeError } from './sender';
import { prepareFile } from './prepare';

/** What sendFiles needs of the ChatStore. */
export interface FileSink {
  files: { send(peer: string, name: string, mime: string, bytes: Uint8Array): Promise<void> };
}

/**
 * Prepare and send `files` one after another (in order). Resolves with a
 * sentence for the first refusal (too large, empty, unreadable), or null.
 * The posts themselves go on in the background.
 */
export async function sendFiles(chat: FileSink, peer: string, files: readonly File[]): Promise<string | null> {
  for (const f of files) {
    try {
      const p = await prepareFile(f);
      // Resolves after the local echo; the file goes out in the background, in order.
      await chat.files.send(peer, p.name, p.mime, p.bytes);
    } catch (e) {
      if (e instanceof FileTooLargeError || e instanceof EmptyFileError) return e.message;
      return `Couldn’t read ${f.name || 'that file'}.`;
    }
  }
  return null;
}
