// `vakt hes serve --http <port>`: the API and console on loopback unless told otherwise.
import type { Hes } from '../hes/hes.ts';
import { buildApi } from './app.ts';

export async function startHttp(
  hes: Hes,
  o: { host: string; port: number; secureCookies?: boolean },
): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const app = await buildApi({ hes, ...(o.secureCookies !== undefined ? { secureCookies: o.secureCookies } : {}) });
  await app.listen({ host: o.host, port: o.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return { url: `http://${host}:${port}/`, port, close: () => app.close() };
}
