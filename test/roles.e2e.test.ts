import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type ControlRole, controlRoles } from "../shared/protocol/definitions.js";
import { catalogue } from "../shared/protocol/messages.js";
import { PROTOCOL_VERSION } from "../shared/protocol/version.js";
import { writePythonApp } from "./helpers/app.js";
import { TEST_TOKEN } from "./helpers/cluster.js";
import {
  controlBin,
  eventually,
  olympusBin,
  projectRoot,
  run,
  type Started,
  startNode,
  stopAll,
} from "./helpers/processes.js";
import { RawClient, type RawFrame } from "./helpers/raw-client.js";

/** `olympus ARGS` in `directory`, where the master keeps .olympus/. */
function olympusIn(directory: string, args: string[]) {
  return run(olympusBin, args, { cwd: directory });
}

/** `olympus token create`; returns the token, the last line of stdout. */
async function createToken(directory: string, args: string[]): Promise<string> {
  const result = await olympusIn(directory, ["token", "create", ...args]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trimEnd().split("\n").at(-1) as string;
}

/** When a token expires, in ms since the epoch: its `exp` claim. */
function expiryOf(token: string): number {
  const { exp } = JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()) as { exp: number };
  return exp * 1000;
}

/** `olympus master` with the shared test token, in a directory of its own. */
async function startMasterIn(
  directory: string,
  extraArgs: string[] = [],
): Promise<{ process: Started; url: string; httpUrl: string }> {
  const master = startNode(olympusBin, ["master", "--port", "0", ...extraArgs], { cwd: directory });
  const [, url] = (await master.waitFor(/listening on (ws:\/\/\S+)/)) as string[];
  return {
    process: master,
    url: url as string,
    httpUrl: (url as string).replace(/^ws/, "http").replace(/api\/socket$/, ""),
  };
}

type Peer = "slave" | "control";

function registration(peer: Peer, token: string): RawFrame {
  const common = { agent: "roles test", version: PROTOCOL_VERSION, token };
  return peer === "slave"
    ? { type: "register_slave", data: { ...common, name: "roles-slave", id: 777 } }
    : { type: "register_control", data: common };
}

/** The first frame received so far or to come that is `wanted`. */
async function until(client: RawClient, wanted: (frame: RawFrame) => boolean, what: string): Promise<RawFrame> {
  const found = () => client.frames.find(wanted);
  if (found() === undefined) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${what} within 5 s; got ${JSON.stringify(client.frames)}`)),
        5000,
      );
      const onMessage = () => {
        if (found() === undefined) return;
        clearTimeout(timer);
        client.socket.off("message", onMessage);
        resolve();
      };
      client.socket.on("message", onMessage);
    });
  }
  return found() as RawFrame;
}

/** Registers; resolves with the client once ready, or with the close reason. */
async function register(url: string, peer: Peer, token: string): Promise<RawClient | string> {
  const client = await RawClient.open(url);
  client.send(registration(peer, token));
  const answer = await until(client, (frame) => frame.type === "ready" || frame.type === "close", "ready or close");
  return answer.type === "ready" ? client : client.closeReason();
}

async function registered(url: string, peer: Peer, token: string): Promise<RawClient> {
  const client = await register(url, peer, token);
  if (typeof client === "string") throw new Error(`refused: ${client}`);
  return client;
}

/** A control's roles, least first (the README's table). */
const ranks: readonly ControlRole[] = ["viewer", "operator", "admin"];

/** A command that ended before the tests, so the history has its output to give. */
const endedCommand = { id: "" };
/** A command that runs through the tests, for controls to resume. */
const runningCommand = "roles-running-command";

/**
 * Who may send each request and event, written out from the README's table:
 * a control of at least `control`'s role, and a slave when `slave` is set.
 * `data` is valid data for it, and for a request `answered` says whether a
 * response is a real answer. The agent `roles-agent` serves the plan's `hello`.
 */
const expected: Record<
  string,
  {
    control?: ControlRole;
    /** What a control below `control` is told it may not do (the words of the commands that send it). */
    refused?: string;
    slave?: true;
    data: () => Record<string, unknown>;
    answered?: (data: Record<string, unknown>) => boolean;
  }
> = {
  list_slaves_request: {
    control: "viewer",
    data: () => ({}),
    answered: (data) => JSON.stringify(data.slaves).includes('"name":"roles-agent"'),
  },
  ping_request: {
    control: "viewer",
    data: () => ({ slave: "roles-agent" }),
    answered: (data) => data.error === undefined,
  },
  status_request: {
    control: "viewer",
    data: () => ({ slave: "roles-agent" }),
    answered: (data) => (data.trees as { slave: string }[])[0]?.slave === "roles-agent",
  },
  watch_request: { control: "viewer", data: () => ({}), answered: (data) => data.error === undefined },
  commands_request: { control: "viewer", data: () => ({}), answered: (data) => Array.isArray(data.commands) },
  history_request: { control: "viewer", data: () => ({}), answered: (data) => Array.isArray(data.entries) },
  history_output_request: {
    control: "viewer",
    data: () => ({ command_id: endedCommand.id }),
    answered: (data) => Buffer.from(String(data.output), "base64").toString() === "ended\n",
  },
  timeline_request: { control: "viewer", data: () => ({}), answered: (data) => Array.isArray(data.events) },
  restart_request: {
    control: "operator",
    refused: "restart phases",
    data: () => ({ slave: "roles-agent", node: "work" }),
    answered: (data) => JSON.stringify(data.restarted).includes("work"),
  },
  run_request: {
    control: "operator",
    refused: "run commands",
    data: () => ({ slave: "roles-agent", command_id: commandId(), command: "hello", args: [], terminal: null }),
    answered: (data) => typeof data.pid === "number",
  },
  exec_request: {
    control: "operator",
    refused: "run commands",
    data: () => ({ slave: "roles-agent", command_id: commandId(), program: "true", args: [], terminal: null }),
    answered: (data) => typeof data.pid === "number",
  },
  resume_command_request: {
    control: "operator",
    refused: "resume commands",
    data: () => ({
      slave: "roles-agent",
      command_id: runningCommand,
      attempt: 1,
      argv: ["exec", "sleep", "600"],
      output_received: 0,
      output_written: 0,
    }),
    answered: (data) => data.error === undefined,
  },
  command_input_event: {
    control: "operator",
    refused: "send input to commands",
    data: () => ({ command_id: commandId(), eof: true }),
  },
  command_resize_event: {
    control: "operator",
    refused: "resize commands' terminals",
    data: () => ({ command_id: commandId(), cols: 80, rows: 24 }),
  },
  command_signal_event: {
    control: "operator",
    refused: "signal commands",
    data: () => ({ command_id: commandId(), signal: "SIGINT" }),
  },
  command_ack_event: {
    control: "operator",
    refused: "read commands' output",
    slave: true,
    data: () => ({ command_id: commandId(), bytes: 1 }),
  },
  tree_event: { slave: true, data: () => ({ nodes: [], commands: [] }) },
  node_state_event: {
    slave: true,
    data: () => ({ node: { name: "boot", parent: null, state: "ready", pid: null, error: null } }),
  },
  command_output_event: { slave: true, data: () => ({ command_id: commandId(), stream: "stdout", data: "" }) },
  command_exit_event: { slave: true, data: () => ({ command_id: commandId(), code: 0, signal: null }) },
  slave_event: { data: () => ({}) },
  command_event: { data: () => ({}) },
  command_slave_event: { data: () => ({ command_id: commandId(), connected: true }) },
  command_resumed_event: {
    slave: true,
    data: () => ({ command_id: commandId(), attempt: 1, input_received: 0, input_consumed: 0, input_ended: false }),
  },
  test_request: {
    control: "operator",
    // `hello` takes the file as its argument and ignores it.
    data: () => ({ suite_id: commandId(), command: "hello", patterns: ["plan.py"] }),
    answered: (data) => data.files === 1 && data.phase === "work",
  },
  test_stop_event: { control: "operator", data: () => ({ suite_id: commandId() }) },
  test_files_request: { data: () => ({ patterns: [] }) },
  test_file_event: { data: () => ({}) },
  test_done_event: { data: () => ({}) },
  test_progress_event: { data: () => ({}) },
};

let commands = 0;
const commandId = () => `roles-${String(++commands).padStart(8, "0")}`;

/**
 * Sends one frame of `type` with valid data, then a probe request, and
 * returns what the master said about the frame: the close reason, an error
 * response's text, or "" with the response (none for an event) when it passed.
 */
async function verdict(
  url: string,
  peer: Peer,
  token: string,
  type: string,
): Promise<{ said: string; response: Record<string, unknown> | null }> {
  const client = await registered(url, peer, token);
  client.send({ seq: 2, type, data: expected[type]?.data() ?? {} });
  client.send({ seq: 3, type: "probe_request", data: {} });
  const isRequest = type.endsWith("_request");
  const answered = (frame: RawFrame) =>
    frame.type === "close" || (isRequest ? frame.data.seq === 2 : frame.type === "probe_response");
  const frame = await until(client, answered, `answer to ${type}`);
  client.socket.close();
  await client.closed;
  if (frame.type === "close") return { said: frame.data.reason as string, response: null };
  if (typeof frame.data.error === "string" && frame.data.seq === 2) return { said: frame.data.error, response: null };
  return { said: "", response: isRequest ? frame.data : null };
}

interface Sender {
  label: string;
  peer: Peer;
  /** The role the master should treat it as. */
  role: "slave" | ControlRole;
  token: () => string;
}

/** What the README's table says the master must refuse, or null. */
function expectedRefusal(sender: Sender, type: string): string | null {
  const { control, slave, refused } = expected[type] ?? {};
  if (sender.peer === "slave") return slave ? null : `a slave may not send ${type}`;
  if (control === undefined) return `a control may not send ${type}`;
  return ranks.indexOf(sender.role as ControlRole) >= ranks.indexOf(control)
    ? null
    : `a ${sender.role} may not ${refused ?? `send ${type}`} (that takes an ${control} token)`;
}

describe("roles and tokens", () => {
  let dir: string;
  let master: Started;
  let url: string;
  let httpUrl: string;
  const tokens = new Map<string, string>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "olympus-roles-"));
    ({ process: master, url, httpUrl } = await startMasterIn(dir, ["--token", TEST_TOKEN]));
    for (const role of ["slave", ...controlRoles])
      tokens.set(role, await createToken(dir, ["--role", role, "--name", `test-${role}`]));
    const app = writePythonApp();
    const agent = startNode(olympusBin, [
      "slave",
      "--master",
      url,
      "--name",
      "roles-agent",
      "--token",
      TEST_TOKEN,
      "--config",
      join(app, "zeus.json"),
    ]);
    await agent.waitFor(/connected to/);
    const control = ["--master", url, "--token", TEST_TOKEN];
    assert.equal((await run(controlBin, [...control, "exec", "--", "echo", "ended"])).code, 0);
    const [entry] = JSON.parse((await run(controlBin, [...control, "history", "--json"])).stdout) as {
      command_id: string;
    }[];
    endedCommand.id = entry?.command_id ?? "";
    const starter = await registered(url, "control", TEST_TOKEN);
    const started = await starter.request("exec_request", {
      slave: "roles-agent",
      command_id: runningCommand,
      program: "sleep",
      args: ["600"],
      terminal: null,
    });
    assert.equal(typeof started.data.pid, "number", JSON.stringify(started.data));
  });
  after(stopAll);

  /** Until the agent's plan is booted again (a restart request restarts it). */
  const waitForAgent = async () => {
    let seen = "";
    await eventually(
      async () => {
        seen = (await run(controlBin, ["--master", url, "--token", TEST_TOKEN, "status", "roles-agent", "--json"]))
          .stdout;
        const nodes = seen.startsWith("[") ? (JSON.parse(seen) as { nodes: { state: string }[] }[])[0]?.nodes : [];
        return nodes !== undefined && nodes.length > 0 && nodes.every((node) => node.state === "ready");
      },
      15_000,
      "roles-agent's plan to be ready",
    ).catch((error: Error) => Promise.reject(new Error(`${error.message}: ${seen}`)));
  };

  const senders: Sender[] = [
    { label: "a slave token", peer: "slave", role: "slave", token: () => tokens.get("slave") as string },
    ...controlRoles.map(
      (role): Sender => ({ label: `a ${role} token`, peer: "control", role, token: () => tokens.get(role) as string }),
    ),
    { label: "an admin token as a slave", peer: "slave", role: "slave", token: () => tokens.get("admin") as string },
    { label: "the shared --token as a control", peer: "control", role: "admin", token: () => TEST_TOKEN },
    { label: "the shared --token as a slave", peer: "slave", role: "slave", token: () => TEST_TOKEN },
  ];

  it("has an access role on every request and event a control may send", () => {
    const undeclared = catalogue.filter(
      (definition) =>
        definition.kind !== "plain" && definition.from.includes("control") && definition.access === undefined,
    );
    assert.deepEqual(
      undeclared.map((definition) => definition.type),
      [],
    );
  });

  it("shows each control role in docs/protocol.md's sent-by column", () => {
    const text = readFileSync(`${projectRoot}docs/protocol.md`, "utf8");
    for (const definition of catalogue) {
      if (definition.kind === "plain" || definition.access === undefined) continue;
      assert.match(
        text,
        new RegExp(`^\\| \`${definition.type}\` \\| [^|]*control \\(${definition.access}\\)`, "m"),
        definition.type,
      );
    }
  });

  it("has an expected role written out for every request and event in the catalogue", () => {
    const types = catalogue.filter((definition) => definition.kind !== "plain").map((definition) => definition.type);
    assert.deepEqual(types.sort(), Object.keys(expected).sort());
  });

  for (const type of Object.keys(expected)) {
    it(`${type}: answered for the roles the README allows, refused with a reason for the others`, async () => {
      await waitForAgent();
      for (const sender of senders) {
        const { said, response } = await verdict(url, sender.peer, sender.token(), type);
        const refusal = expectedRefusal(sender, type);
        const what = `${sender.label} sending ${type}`;
        assert.equal(said, refusal ?? "", what);
        if (refusal === null && response !== null)
          assert.ok(expected[type]?.answered?.(response), `${what}: ${JSON.stringify(response)}`);
      }
    });
  }

  it("lets a token register only as its own kind of peer, unless it is an admin token", async () => {
    assert.equal(
      await register(url, "control", tokens.get("slave") as string),
      "bad token: a slave token may not register as a control",
    );
    for (const role of ["viewer", "operator"]) {
      assert.equal(
        await register(url, "slave", tokens.get(role) as string),
        `bad token: a ${role} token may not register as a slave`,
      );
    }
    for (const peer of ["slave", "control"] as const)
      (await registered(url, peer, tokens.get("admin") as string)).socket.close();
  });

  it("refuses a token signed with another secret, and garbage", async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), "olympus-roles-other-"));
    assert.equal(await register(url, "control", await createToken(elsewhere, ["--role", "admin"])), "bad token");
    assert.equal(await register(url, "control", "not.a.jwt"), "bad token");
  });

  it("refuses an expired token", async () => {
    const token = await createToken(dir, ["--role", "viewer", "--name", "short-lived", "--expires-in", "2s"]);
    (await registered(url, "control", token)).socket.close();
    await new Promise((resolve) => setTimeout(resolve, expiryOf(token) - Date.now() + 100));
    assert.equal(await register(url, "control", token), 'bad token: "short-lived" expired');
  });

  it("ends the sessions a token opened when it expires, attached or waiting for a resume", async () => {
    const token = await createToken(dir, ["--role", "viewer", "--name", "expiring", "--expires-in", "2s"]);
    const attached = await registered(url, "control", token);
    const detached = await registered(url, "control", token);
    const { session_token } = (await detached.next("ready")).data;
    detached.socket.terminate(); // no `close`: the session waits for a resume
    const lasting = await registered(url, "control", tokens.get("viewer") as string);

    assert.equal(await attached.closeReason(), 'bad token: "expiring" expired');
    const late = Date.now() - expiryOf(token);
    assert.ok(late >= 0 && late < 1000, `closed ${late} ms after the expiry`);
    const ended = () => master.output.match(/ended: bad token: "expiring" expired/g)?.length ?? 0;
    await eventually(() => ended() === 2, 1000, "both sessions' end in the master's log");
    const resumer = await RawClient.open(url);
    resumer.send({ type: "resume", data: { session_token, last_seq: 0 } });
    await resumer.next("invalidate");
    resumer.socket.close();

    lasting.send({ seq: 1, type: "ping_request", data: {} });
    await lasting.next("ping_response");
    lasting.socket.close();
  });

  it("refuses a revoked token at registration and ends the sessions it opened", async () => {
    const token = await createToken(dir, ["--role", "operator", "--name", "to-revoke"]);
    const live = await registered(url, "control", token);
    const revoked = await olympusIn(dir, ["token", "revoke", "to-revoke"]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout, 'revoked operator token "to-revoke"\n');
    assert.equal(await register(url, "control", token), 'bad token: "to-revoke" was revoked');
    assert.equal(await live.closeReason(), 'bad token: "to-revoke" was revoked');

    const again = await olympusIn(dir, ["token", "revoke", "to-revoke"]);
    assert.match(again.stdout, /^token "to-revoke" was already revoked \(.+\)\n$/);
  });

  it("prints a created token alone on stdout's last line, and lists tokens", async () => {
    const created = await olympusIn(dir, ["token", "create", "--role", "viewer", "--name", "listed"]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    assert.equal(created.stderr, 'created viewer token "listed"\n');

    const listed = await olympusIn(dir, ["token", "list"]);
    assert.match(listed.stdout, /^NAME +ROLE +CREATED +EXPIRES +REVOKED\n/);
    assert.match(listed.stdout, /^listed +viewer +\d{4}-\d\d-\d\dT[\d:.]+Z +never +no$/m);
    assert.match(listed.stdout, /^to-revoke +operator +\S+ +never +\d{4}-\d\d-\d\dT\S+Z$/m);
    const entries = JSON.parse((await olympusIn(dir, ["token", "list", "--json"])).stdout) as {
      name: string;
      role: string;
    }[];
    assert.deepEqual(entries.find((entry) => entry.name === "listed")?.role, "viewer");

    for (const file of ["secret", "tokens.json"])
      assert.equal(statSync(join(dir, ".olympus", file)).mode & 0o777, 0o600, file);
  });

  it("says what is wrong with a token command in one line", async () => {
    const cases: [string[], RegExp][] = [
      [
        ["token", "create", "--role", "viewer", "--name", "listed"],
        /^olympus: a token named "listed" exists already\n$/,
      ],
      [
        ["token", "create", "--role", "viewer", "--name", "no spaces"],
        /^olympus: token name "no spaces" must be 1 to 64 letters/,
      ],
      [
        ["token", "create", "--role", "viewer", "--expires-in", "soon"],
        /^olympus: expiry "soon" is not a time span such as 90m, 12h or 30d\n$/,
      ],
      [
        ["token", "create", "--role", "root"],
        /argument 'root' is invalid\. Allowed choices are slave, viewer, operator, admin/,
      ],
      [["token", "revoke", "nobody"], /^olympus: no token named "nobody"\n$/],
    ];
    await Promise.all(
      cases.map(async ([args, stderr]) => {
        const result = await olympusIn(dir, args);
        assert.equal(result.code, 1, args.join(" "));
        assert.match(result.stderr, stderr);
      }),
    );
  });

  it("lets control act only within its role", async () => {
    const control = (token: string, args: string[]) =>
      run(controlBin, ["--master", url, "--token", token, ...args], { cwd: dir });
    const slaves = await control(tokens.get("viewer") as string, ["slaves"]);
    assert.equal(slaves.code, 0, slaves.stderr);
    const exec = await control(tokens.get("viewer") as string, ["exec", "--slave", "nobody", "--", "true"]);
    assert.equal(exec.code, 1);
    assert.equal(exec.stderr, "control: a viewer may not run commands (that takes an operator token)\n");
    const slaveAsControl = await control(tokens.get("slave") as string, ["slaves"]);
    assert.equal(
      slaveAsControl.stderr,
      "control: master refused: bad token: a slave token may not register as a control\n",
    );
  });

  it("runs a real agent with a slave token", async () => {
    const agent = startNode(
      olympusBin,
      ["slave", "--master", url, "--name", "token-slave", "--token", tokens.get("slave") as string],
      { cwd: dir },
    );
    await agent.waitFor(/connected to/);
    await agent.kill();
  });

  it("guards the HTTP routes with the same tokens: a control's role, viewer or more; /api/health shows only its status without one", async () => {
    const get = (path: string, token?: string) =>
      fetch(new URL(path, httpUrl), { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    for (const role of controlRoles) {
      for (const path of ["/api/health", "/api/slaves", "/metrics"])
        assert.equal((await get(path, tokens.get(role))).status, 200, `${role} ${path}`);
    }
    assert.equal((await get("/api/health", TEST_TOKEN)).status, 200);
    const refusals: [string | undefined, string][] = [
      [undefined, "missing bearer token"],
      [tokens.get("slave"), "bad token: a slave token may not register as a control"],
      ["wrong", "bad token"],
    ];
    for (const [token, error] of refusals) {
      for (const path of ["/api/slaves", "/metrics"]) {
        const response = await get(path, token);
        assert.equal(response.status, 401, `${path} with ${token}`);
        assert.deepEqual(await response.json(), { error });
      }
      // Probes and load balancers carry no token: they get the status alone.
      const health = await get("/api/health", token);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: "ok" });
    }
  });
});

describe("token commands run at once", () => {
  after(stopAll);

  it("keep every token that concurrent `olympus token create` processes issue", async () => {
    const dir = mkdtempSync(join(tmpdir(), "olympus-roles-concurrent-"));
    const names = Array.from({ length: 8 }, (_, index) => `t${index}`);
    const created = await Promise.all(names.map((name) => createToken(dir, ["--role", "viewer", "--name", name])));
    const listed = JSON.parse((await olympusIn(dir, ["token", "list", "--json"])).stdout) as { name: string }[];
    assert.deepEqual(listed.map((entry) => entry.name).sort(), names);
    const { url } = await startMasterIn(dir);
    for (const token of created) (await registered(url, "control", token)).socket.close();
  });
});

describe("a master without --token", () => {
  after(stopAll);

  it("writes a signed admin token to .olympus/master.json, listed as local-admin", async () => {
    const dir = mkdtempSync(join(tmpdir(), "olympus-roles-local-"));
    const { process: master, url } = await startMasterIn(dir);
    await master.waitFor(/admin token written/);
    const { token } = JSON.parse(readFileSync(join(dir, ".olympus", "master.json"), "utf8")) as { token: string };
    const claims = JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()) as Record<
      string,
      unknown
    >;
    assert.equal(claims.role, "admin");
    assert.equal(claims.sub, "local-admin");
    assert.match((await olympusIn(dir, ["token", "list"])).stdout, /^local-admin +admin /m);
    for (const peer of ["slave", "control"] as const) (await registered(url, peer, token)).socket.close();
  });
});
