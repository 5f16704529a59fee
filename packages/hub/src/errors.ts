/** A failed hub or URL download. `url` is what was requested; `status` the HTTP status when there was one. */
export class HubError extends Error {
  override name = 'HubError';
  readonly url: string;
  readonly status?: number;

  constructor(message: string, url: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.url = url;
    this.status = status;
  }
}
