// Code loaded on demand with import(): one load per module, shared by every
// caller; a failed load (offline before the service worker had cached the
// chunk) is not remembered, so the next use tries again. `loaded` is the
// module once it has come, so a screen shown again renders at once.
export interface Lazy<T> {
  (): Promise<T>;
  readonly loaded: T | undefined;
}

export function lazy<T>(load: () => Promise<T>): Lazy<T> {
  let loading: Promise<T> | undefined;
  let loaded: T | undefined;
  const get = () =>
    (loading ??= load().then(
      (m) => (loaded = m),
      (e: unknown) => {
        loading = undefined;
        throw e;
      },
    ));
  return Object.defineProperty(get, 'loaded', { get: () => loaded }) as Lazy<T>;
}
