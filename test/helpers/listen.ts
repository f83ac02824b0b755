/** Starting a test HTTP server on a free local port, and stopping it with its open connections. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function listenLocal(
  server: Server,
): Promise<{ url: string; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
