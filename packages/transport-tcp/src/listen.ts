// Listening and bound-address helpers shared by the TCP firmware server and the HTTP(S) image
// server (an http.Server is a net.Server).
import type { AddressInfo, Server } from "node:net";

/** Starts `server` on `host:port` (port 0: any free port); rejects on a listen error. */
export async function listenOn(server: Server, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** The address `server` is bound to; throws naming `what` when it is not listening. */
export function boundAddress(server: Server, what: string): AddressInfo {
  const a = server.address();
  if (a === null || typeof a === "string") throw new Error(`the ${what} is not listening`);
  return a;
}
