/**
 * The olympus_native addon (slave/native/*.c, built by the root binding.gyp)
 * with types, plus the small classes the agent uses on top of it. Linux only.
 * Nothing here blocks the event loop.
 *
 * Who owns which fd:
 * - Functions that create fds (socketpair, pipe, openpty) give them
 *   to the caller, who closes them with fs.closeSync.
 * - Sending never takes your fds. sendmsg() copies them into the kernel, and
 *   FdChannel.send() keeps duplicates of its own while a message waits in its
 *   queue. Close your fds whenever you like once the call has returned.
 * - Received fds (recvmsg, FdChannel 'data') belong to the receiver and are
 *   close-on-exec. An FdChannel with no 'data' listener closes them itself.
 * - Poller, FdChannel and FdStream own the fd given to their constructor:
 *   close() closes it (FdChannel also closes duplicates still queued).
 */
export {
  type Eof,
  foregroundProcessGroup,
  getWindowSize,
  type Message,
  openpty,
  type PollCallback,
  Poller,
  type Pty,
  peerPid,
  pipe,
  readFd,
  reap,
  recvmsg,
  type SocketType,
  sendmsg,
  setWindowSize,
  shutdownWrite,
  socketpair,
  socketType,
  startGuardian,
  startStandIn,
  type WindowSize,
} from "./addon.js";
export { FdChannel } from "./fd-channel.js";
export { FdStream, type WriteCallback } from "./fd-stream.js";
export { type ExitStatus, exitStatusKnown, type ProcessWatch, watchProcessExit } from "./process-exit.js";
