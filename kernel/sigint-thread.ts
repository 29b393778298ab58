// The SIGINT thread: a worker that waits forever inside a vm call with
// breakOnSigint, so Node's SIGINT watchdog stays registered for the whole
// life of the kernel. That has two effects the kernel relies on:
//  - a SIGINT never falls through to the default action (ending the
//    process), and the main thread's own breakOnSigint regions do not
//    install and remove the signal handler on every call (which costs
//    ~60 µs and leaves windows where a SIGINT would kill the process);
//  - Node hands a SIGINT to the most recently entered watchdog: a cell
//    running in a protected region on the main thread gets it (and stops);
//    otherwise this thread does, and posts "sigint" to the main thread,
//    which then aborts awaited work.
// The wait is nested two deep so a signal that arrives while the inner
// wait is being re-entered still lands on a registered watchdog.
import vm from "node:vm";
import { parentPort, workerData } from "node:worker_threads";
import type { FromSigintThread } from "./protocol.js";

export interface SigintThreadData {
  /** Int32Array over a SharedArrayBuffer; the main thread stores 1 at [0] and notifies to stop the thread. */
  stop: SharedArrayBuffer;
}

const port = parentPort!;
const stopFlag = new Int32Array((workerData as SigintThreadData).stop);
const post = (m: FromSigintThread) => port.postMessage(m);
const stopped = () => Atomics.load(stopFlag, 0) !== 0;

const g = globalThis as unknown as Record<string, unknown>;
g.__vramlabStopFlag = stopFlag;
const innerWait = new vm.Script("Atomics.wait(__vramlabStopFlag, 0, 0)", { filename: "vramlab-sigint-wait" });

let announced = false;
g.__vramlabWaitLoop = () => {
  // Announced from inside the outer region: from here on a SIGINT always meets a watchdog.
  if (!announced) {
    announced = true;
    post({ op: "ready" });
  }
  while (!stopped()) {
    try {
      innerWait.runInThisContext({ breakOnSigint: true });
    } catch {
      if (!stopped()) post({ op: "sigint" });
    }
  }
};
const outerWait = new vm.Script("__vramlabWaitLoop()", { filename: "vramlab-sigint-loop" });

while (!stopped()) {
  try {
    outerWait.runInThisContext({ breakOnSigint: true });
  } catch {
    if (!stopped()) post({ op: "sigint" });
  }
}
