// One key's linked accounts as a component shows them (Settings → Linked
// accounts for one's own, the Verify panel for a peer's): the chain read and
// verified on this device, the home server's verdicts beside its claims, and
// for one's own key adding and revoking (lib/claims.ts does the work). A
// refresh that fails keeps what was shown, with a note.
import { appendLink } from './claims-append';
import {
  chainInvalidText,
  chainPath,
  claimRows,
  ClaimsError,
  errorText,
  readChainAt,
  readVerdicts,
  waitWords,
  type ClaimRow,
  type Fetch,
  type Verdict,
} from './claims';
import type { Chain, Claim, LinkPayload, SignedLink } from './sigchain';

export interface LinkedAccountsDeps {
  fetch: Fetch;
  now: () => Date;
  /** Where the chain is read (default: this server's path for the key); null: the key has no handle there, so no chain. */
  locate?: () => Promise<string | null>;
  /** Whether this server's verdicts apply (false: the key's home server is another one). */
  verdicts?: boolean;
  /** Only for one's own key: signs a link payload. */
  sign?: (payload: LinkPayload) => Promise<SignedLink>;
}

export type ChainState = 'loading' | 'ok' | 'none' | 'invalid' | 'unreachable';

export class LinkedAccounts {
  state = $state<ChainState>('loading');
  rows = $state<ClaimRow[]>([]);
  /** Why the chain is `invalid` or `unreachable`, in words. */
  problem = $state('');
  /** Why there are no verdicts (the server couldn't be asked), in words; '' when they came. */
  verdictsProblem = $state('');
  /** A refresh failed and the rows shown are from an earlier read: why, and when that read was. */
  stale = $state('');
  /** Until when (ms) the server asked us to wait (429 Retry-After); 0 when free. */
  waitUntil = $state(0);
  /** Where the chain was last read from (this origin's path, or another service's URL); '' before. */
  url = $state('');
  /** A read is running (the re-check button says so). */
  busy = $state(false);
  /** Active claims in the chain, verified or not (0 while not `ok`). */
  count = $derived(this.rows.length);

  readonly primary: string;
  readonly #deps: LinkedAccountsDeps;
  #run = 0;
  #readAt: Date | null = null;
  #waitTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(primary: string, deps: LinkedAccountsDeps) {
    this.primary = primary;
    this.#deps = deps;
  }

  /** Reads again and asks the server to check again the proofs that aren't verified (SPEC §15.5 `no-cache`). */
  recheck(): Promise<void> {
    return this.load({ fresh: true });
  }

  /** Reads the chain (verified here) and this server's verdicts; a later call wins over an earlier one still running. */
  load(opts: { fresh?: boolean } = {}): Promise<void> {
    return this.#load(opts, null);
  }

  /** {@link load}; given `chain` (just appended to on this server and verified here), shows it without reading it again. */
  async #load(opts: { fresh?: boolean }, chain: Chain | null): Promise<void> {
    const run = ++this.#run;
    this.busy = true;
    try {
      let url: string | null;
      try {
        url = chain ? chainPath(this.primary) : this.#deps.locate ? await this.#deps.locate() : chainPath(this.primary);
      } catch (e) {
        if (run !== this.#run) return;
        this.#unreachable(errorText(e));
        return;
      }
      if (url === null) {
        // Not registered: no chain and no verdicts to ask for (each would be a 404).
        this.verdictsProblem = '';
        this.#set('none', [], '');
        return;
      }
      this.url = url;
      // A chain kept by another service (--sig-server-url) has no proof check here (SPEC §15.5: 404).
      const here = url.startsWith('/');
      const [read, verdicts] = await Promise.all([
        chain ? ({ kind: 'ok', chain } as const) : readChainAt(this.#deps.fetch, url, this.primary),
        this.#deps.verdicts === false || !here ? null : readVerdicts(this.#deps.fetch, this.primary, opts.fresh),
      ]);
      if (run !== this.#run) return;
      this.#wait(Math.max(read.kind === 'unreachable' ? (read.retryAfter ?? 0) : 0, verdicts?.kind === 'unavailable' ? (verdicts.retryAfter ?? 0) : 0));
      this.verdictsProblem =
        verdicts !== null
          ? verdicts.kind === 'ok'
            ? ''
            : verdicts.message
          : here
            ? 'Their home server is not this one, so there is no proof check from here.'
            : 'These linked accounts are kept by another service, so their proofs aren’t checked here.';
      if (read.kind === 'ok') {
        // Verdicts that couldn't be read now: keep the ones shown before for the same links.
        const got: Verdict[] | null = verdicts?.kind === 'ok' ? verdicts.verdicts : null;
        const kept = got ?? this.rows.flatMap((r) => (r.verdict ? [r.verdict] : []));
        this.#readAt = this.#deps.now();
        this.#set('ok', claimRows(read.chain, kept), '');
      } else if (read.kind === 'none') this.#set('none', [], '');
      else if (read.kind === 'invalid') this.#set('invalid', [], chainInvalidText(read.code, read.index));
      else this.#unreachable(read.message);
    } finally {
      if (run === this.#run) this.busy = false;
    }
  }

  /** A failed read: over rows already shown, a note; else the problem. */
  #unreachable(message: string) {
    if (this.state === 'ok' && this.#readAt) {
      this.stale = `Couldn’t refresh: ${message} Showing what was read at ${this.#readAt.toLocaleTimeString()}.`;
      return;
    }
    this.#set('unreachable', [], message);
  }

  #wait(seconds: number) {
    clearTimeout(this.#waitTimer);
    if (seconds <= 0) {
      this.waitUntil = 0;
      return;
    }
    this.waitUntil = Date.now() + seconds * 1000;
    this.#waitTimer = setTimeout(() => (this.waitUntil = 0), seconds * 1000);
  }

  /** While the server asked to wait: "Try again in 30 seconds"; '' otherwise. */
  get waitText(): string {
    if (!this.waitUntil) return '';
    return `The server asked to wait: try again in ${waitWords(Math.max(1, Math.ceil((this.waitUntil - Date.now()) / 1000)))}.`;
  }

  #set(state: ChainState, rows: ClaimRow[], problem: string) {
    this.state = state;
    this.rows = rows;
    this.problem = problem;
    this.stale = '';
  }

  /** Adds `claim` (own key only), then reads everything again. Throws {@link ClaimsError} with a sentence. */
  async add(claim: Claim): Promise<void> {
    await this.#append({ op: 'add', claim });
  }

  /** Revokes the claim added by `link` (own key only), then reads everything again. */
  async revoke(link: string): Promise<void> {
    await this.#append({ op: 'revoke', link });
  }

  async #append(body: Parameters<typeof appendLink>[1]): Promise<void> {
    const sign = this.#deps.sign;
    if (!sign) throw new ClaimsError('read_only', 'Only the key’s owner can change its linked accounts.');
    const { chain } = await appendLink(this.primary, body, { fetch: this.#deps.fetch, now: this.#deps.now, sign });
    // The chain was read and verified before signing: the appended one is shown, not read again.
    await this.#load({}, chain);
  }
}
