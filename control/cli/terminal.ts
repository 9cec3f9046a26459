/** Sequences that leave the alternate screen, show the cursor and stop mouse and paste reporting, whatever the remote program left on. */
const RESET_MODES = "\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l";

/**
 * Puts the local terminal in raw mode, so keystrokes (^C, ^Z, arrows) go to
 * the remote terminal as bytes. The returned function restores it; it also
 * runs on any exit of the process, however it happens.
 */
export async function enterRawMode(): Promise<() => void> {
  // Imported here, not above: a control in pipe mode never loads child_process (see scripts/bundle-control.mjs).
  const { spawnSync } = await import("node:child_process");
  const stdin = process.stdin;
  stdin.setRawMode(true);
  // libuv's raw mode keeps output processing on; the remote PTY has done it already, so a second pass would turn \n into \r\r\n.
  spawnSync("stty", ["-opost"], { stdio: ["inherit", "ignore", "ignore"] });
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    process.off("exit", restore);
    process.stdout.write(RESET_MODES);
    if (stdin.isTTY) stdin.setRawMode(false);
  };
  process.on("exit", restore);
  return restore;
}
