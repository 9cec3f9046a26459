/**
 * The binary_frames extension against a real master and agent: clients that
 * take it and clients that do not, side by side with the same bytes, and
 * malformed binary frames, each refused with a one-line reason while
 * everything else goes on.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { OlympusClient } from "../control/client/client.js";
import type { RemoteCommand, Target } from "../control/client/remote-command.js";
import { BINARY_FRAMES, decodeBinaryFrame, encodeBinaryFrame } from "../shared/protocol/binary-frame.js";
import type { Terminal } from "../shared/protocol/messages.js";
import { startMaster, startSlave, TEST_TOKEN } from "./helpers/cluster.js";
import { eventually, stopAll } from "./helpers/processes.js";
import { RawClient } from "./helpers/raw-client.js";
import { keepingSink } from "./helpers/sink.js";

after(stopAll);

const SIZE = 20 * 1024 * 1024;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** Runs a command to its end; returns its exit and everything it wrote. */
async function collect(client: OlympusClient, target: Target, terminal: Terminal, input?: Buffer) {
  const { sink, output } = keepingSink();
  const command = client.command("bytes", { stdout: sink, stderr: sink });
  await command.start(target, terminal);
  if (input !== undefined) await pump(command, input);
  const outcome = await command.outcome;
  return { outcome, output: output() };
}

/** Sends `input` in 64 KiB pieces under the window, then its end. */
async function pump(command: RemoteCommand, input: Buffer): Promise<void> {
  for (let offset = 0; offset < input.length; offset += 65536) {
    if (!command.input(input.subarray(offset, offset + 65536)))
      await new Promise<void>((resolve) => (command.onInputWindowOpen = resolve));
  }
  command.inputEnd();
}

/** A raw control, taking binary frames or not. */
async function rawControl(url: string, extensions?: string[]) {
  const client = await RawClient.open(url);
  await client.registerControl(TEST_TOKEN, "raw", extensions);
  return client;
}

describe("binary frames", () => {
  let url: string;
  const directory = mkdtempSync(join(tmpdir(), "olympus-bytes-"));
  const file = join(directory, "random.bin");
  const bytes = randomBytes(SIZE);
  before(async () => {
    writeFileSync(file, bytes);
    ({ url } = await startMaster());
    await startSlave(url, "bytes");
  });

  it("are offered in hello; a client that takes them and one that does not get the same bytes side by side", async () => {
    const raw = await RawClient.open(url);
    assert.deepEqual(raw.hello?.data.extensions, [BINARY_FRAMES]);
    raw.socket.close();
    const binary = await OlympusClient.connect({ urls: [url], token: TEST_TOKEN }, { binaryFrames: true });
    const json = await OlympusClient.connect({ urls: [url], token: TEST_TOKEN }, { binaryFrames: false });
    assert.deepEqual([binary.link.binaryFrames, json.link.binaryFrames], [true, false]);
    const pipe: Target = { kind: "exec", program: "cat", args: [file] };
    const terminalCat: Target = { kind: "exec", program: "sh", args: ["-c", `stty raw -echo; cat ${file}`] };
    const inputCat: Target = { kind: "exec", program: "cat", args: [] };
    const small = bytes.subarray(0, 2 * 1024 * 1024);
    const runs = await Promise.all(
      [binary, json].flatMap((client) => [
        collect(client, pipe, null),
        collect(client, terminalCat, { cols: 80, rows: 24 }),
        collect(client, inputCat, null, small),
      ]),
    );
    const expected = [sha256(bytes), sha256(bytes), sha256(small)];
    assert.deepEqual(
      runs.map(({ outcome, output }) => [outcome, output.length, sha256(output)]),
      [...expected, ...expected].map((hash, index) => [{ code: 0 }, index % 3 === 2 ? small.length : SIZE, hash]),
    );
    binary.close();
    json.close();
  });

  it("refuse bad frames with one line each; the sessions and commands around them go on", async () => {
    const owner = await OlympusClient.connect({ urls: [url], token: TEST_TOKEN });
    const { sink, output } = keepingSink();
    const owned = owner.command("bytes", { stdout: sink, stderr: sink });
    await owned.start({ kind: "exec", program: "cat", args: [] }, null);

    const raw = await rawControl(url, [BINARY_FRAMES]);
    const started = await raw.request("exec_request", {
      slave: "bytes",
      command_id: "raw-cat-01",
      program: "cat",
      args: [],
      terminal: null,
    });
    assert.equal(started.data.error, undefined);
    const echoed = async (text: string) => {
      raw.binary.length = 0;
      raw.sendBytes("stdin", "raw-cat-01", Buffer.from(text));
      await eventually(() => raw.binary.length > 0, 5000, "cat's echo");
      const frame = decodeBinaryFrame(raw.binary[0] as Buffer);
      assert.deepEqual([frame.stream, frame.commandId, frame.payload.toString()], ["stdout", "raw-cat-01", text]);
    };
    await echoed("first");

    // Unknown, and another control's: the sender hears so; its session and the owner's command go on.
    for (const id of ["no-such-cmd", owned.id]) {
      raw.sendBytes("stdin", id, Buffer.from("intruder"));
      const exit = await raw.next("command_exit_event");
      assert.deepEqual(exit.data, {
        command_id: id,
        code: null,
        signal: null,
        error: `no running command ${id} of this control`,
      });
    }
    await echoed("second");

    // Malformed: the session that sent it ends with the reason; the others do not notice.
    const malformed: [string[] | undefined, Buffer, string][] = [
      [[BINARY_FRAMES], Buffer.from([1, 0, 0]), "binary frame of 3 bytes is shorter than its 13-byte header"],
      [[BINARY_FRAMES], Buffer.concat([Buffer.from([4]), Buffer.alloc(20)]), "binary frame of unknown kind 4"],
      [
        [BINARY_FRAMES],
        encodeBinaryFrame(2, "stdin", "raw-cat-01", [Buffer.from("abc")]).subarray(0, 25),
        "binary frame says 3 bytes of payload but carries 2",
      ],
      [
        [BINARY_FRAMES],
        encodeBinaryFrame(2, "stdout", "raw-cat-01", []),
        "a control may not send command_output_event",
      ],
      [undefined, encodeBinaryFrame(2, "stdin", "raw-cat-01", []), "binary frames were not taken up at registration"],
    ];
    for (const [extensions, frame, reason] of malformed) {
      const bad = await rawControl(url, extensions);
      bad.send(frame);
      assert.equal(await bad.closeReason(), reason);
    }
    await echoed("third");

    owned.input(Buffer.from("mine"));
    owned.inputEnd();
    assert.deepEqual(await owned.outcome, { code: 0 });
    assert.equal(output().toString(), "mine");
    raw.close();
    owner.close();
  });
});
