// Several Portkey gateway processes on one port, for the `portkey` benchmark peer.
//
// The gateway's start script (build/start-server.js of @portkey-ai/gateway) serves one
// process and has no worker option; this runs PORTKEY_WORKERS copies of it with node:cluster,
// the usual way to use several cores with a Node server. The primary accepts the connections
// and hands them to the workers round-robin (Node's default scheduling on Linux); each worker
// imports the start script unchanged, with this process's arguments (--port=N --headless).
//
//   PORTKEY_GATEWAY_SCRIPT=.../build/start-server.js PORTKEY_WORKERS=4 \
//     node benchmarks/_portkey_cluster.mjs --port=8787 --headless
import cluster from "node:cluster";
import { pathToFileURL } from "node:url";

const script = process.env.PORTKEY_GATEWAY_SCRIPT;
const workers = Number.parseInt(process.env.PORTKEY_WORKERS ?? "1", 10);

if (!script || !(workers >= 1)) {
  console.error("set PORTKEY_GATEWAY_SCRIPT and PORTKEY_WORKERS (>= 1)");
  process.exit(2);
}

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i += 1) {
    cluster.fork();
  }
  // A worker that dies takes the instance down, so the harness sees it instead of
  // measuring fewer processes than it recorded.
  cluster.on("exit", (worker, code, signal) => {
    console.error(`portkey worker ${worker.process.pid} exited (${signal ?? code})`);
    process.exit(1);
  });
} else {
  await import(pathToFileURL(script).href);
}
