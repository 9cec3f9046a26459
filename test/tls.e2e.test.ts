import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { get } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { controlIn, startOlympus, writePythonApp } from "./helpers/app.js";
import { TEST_TOKEN } from "./helpers/cluster.js";
import { controlBin, olympusBin, run, startNode, stopAll } from "./helpers/processes.js";

/** A throwaway CA, and a certificate it signed for 127.0.0.1 and localhost, made with openssl. */
function makeCertificates(): { ca: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "olympus-tls-"));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=Olympus test CA",
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.crt"),
  );
  openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=localhost",
    "-keyout",
    file("server.key"),
    "-out",
    file("server.csr"),
  );
  writeFileSync(file("san.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl(
    "x509",
    "-req",
    "-days",
    "1",
    "-in",
    file("server.csr"),
    "-CA",
    file("ca.crt"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-extfile",
    file("san.cnf"),
    "-out",
    file("server.crt"),
  );
  return { ca: file("ca.crt"), cert: file("server.crt"), key: file("server.key") };
}

/** GET over HTTPS trusting `ca`: the status and the body. */
function httpsGet(url: string, ca: string, token: string | null): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = token === null ? {} : { authorization: `Bearer ${token}` };
    get(url, { ca: readFileSync(ca), headers }, (response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

describe("TLS", () => {
  let certificates: ReturnType<typeof makeCertificates>;
  let url: string;
  const control = (args: string[]) =>
    run(controlBin, ["--master", url, "--token", TEST_TOKEN, ...args], { cwd: tmpdir() });

  before(async () => {
    certificates = makeCertificates();
    const master = startNode(olympusBin, [
      "master",
      "--port",
      "0",
      "--token",
      TEST_TOKEN,
      "--tls-cert",
      certificates.cert,
      "--tls-key",
      certificates.key,
    ]);
    [, url] = (await master.waitFor(/listening on (wss:\/\/127\.0\.0\.1:\d+\/api\/socket)/)) as string[];
    const slave = startNode(olympusBin, [
      "slave",
      "--master",
      url,
      "--name",
      "secure",
      "--token",
      TEST_TOKEN,
      "--ca",
      certificates.ca,
    ]);
    await slave.waitFor(/connected to wss:/);
  });
  after(stopAll);

  it("serves slave and control over wss:// with --ca, command output included", async () => {
    const slaves = await control(["--ca", certificates.ca, "slaves", "--json"]);
    assert.equal(slaves.code, 0, slaves.stderr);
    assert.deepEqual(
      (JSON.parse(slaves.stdout) as { name: string }[]).map((slave) => slave.name),
      ["secure"],
    );
    const exec = await control(["--ca", certificates.ca, "exec", "--slave", "secure", "--", "echo", "over tls"]);
    assert.equal(exec.code, 0, exec.stderr);
    assert.equal(exec.stdout, "over tls\n");
  });

  it("takes the CA from OLYMPUS_CA too", async () => {
    const result = await run(controlBin, ["--master", url, "--token", TEST_TOKEN, "ping"], {
      env: { ...process.env, OLYMPUS_CA: certificates.ca },
    });
    assert.equal(result.code, 0, result.stderr);
  });

  it("refuses a control without the CA with one clear line", async () => {
    const result = await control(["slaves"]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^control: cannot connect to wss:\/\/127\.0\.0\.1:\d+\/api\/socket: unable to verify the first certificate \(trust the CA that signed the master's certificate with --ca FILE\)\n$/,
    );
  });

  it("tells a ws:// client that the master speaks TLS, and the wss:// URL to use", async () => {
    const plain = url.replace(/^wss:/, "ws:");
    const result = await run(controlBin, ["--master", plain, "--token", TEST_TOKEN, "slaves"], { cwd: tmpdir() });
    assert.deepEqual(
      [result.code, result.stderr],
      [1, `control: cannot connect to ${plain}: the master speaks TLS; use ${url}\n`],
    );
    const slave = startNode(olympusBin, ["slave", "--master", plain, "--name", "plain", "--token", TEST_TOKEN]);
    await slave.waitFor(/speaks TLS/);
    assert.equal((await slave.exited).code, 1, "retrying cannot help");
    assert.match(
      slave.output,
      new RegExp(`slave plain: cannot connect to ${plain}: the master speaks TLS; use ${url}\n$`),
    );
  });

  it("says so in one line when the CA file is missing", async () => {
    const result = await control(["--ca", "/nonexistent/ca.crt", "slaves"]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "control: --ca /nonexistent/ca.crt: no such file\n");
  });

  it("keeps an agent without the CA out: one line suggesting --ca, and exit 1 instead of retrying", async () => {
    const slave = startNode(olympusBin, ["slave", "--master", url, "--name", "untrusting", "--token", TEST_TOKEN]);
    await slave.waitFor(/--ca FILE/);
    assert.equal((await slave.exited).code, 1, slave.output);
    const lines = slave.output.split("\n").filter((line) => line.includes("certificate"));
    assert.equal(lines.length, 1, slave.output);
    assert.match(
      lines[0] as string,
      /slave untrusting: cannot connect to wss:.*: unable to verify the first certificate \(trust the CA that signed the master's certificate with --ca FILE\)$/,
    );
    const slaves = await control(["--ca", certificates.ca, "slaves", "--json"]);
    assert.deepEqual(
      (JSON.parse(slaves.stdout) as { name: string }[]).map((listed) => listed.name),
      ["secure"],
    );
  });

  it("stops an agent whose token is refused, with one line and exit 1", async () => {
    const args = ["slave", "--master", url, "--name", "wrong", "--token", "wrong-token", "--ca", certificates.ca];
    const slave = startNode(olympusBin, args);
    assert.equal((await slave.exited).code, 1, slave.output);
    assert.match(slave.output, /slave wrong: master refused: bad token\n$/);
    assert.doesNotMatch(slave.output, /reconnecting/);
  });

  it("guards the HTTPS routes with the bearer token", async () => {
    const httpUrl = url.replace(/^wss/, "https").replace(/api\/socket$/, "");
    const health = await httpsGet(`${httpUrl}api/health`, certificates.ca, TEST_TOKEN);
    assert.equal(health.status, 200);
    assert.equal((JSON.parse(health.body) as { slaves: number }).slaves, 1);
    assert.equal((await httpsGet(`${httpUrl}metrics`, certificates.ca, null)).status, 401);
  });

  it("runs olympus start over TLS; control in its directory finds the URL, token and CA", async () => {
    const dir = writePythonApp();
    const olympus = await startOlympus(dir, [
      "--tls-cert",
      certificates.cert,
      "--tls-key",
      certificates.key,
      "--ca",
      certificates.ca,
    ]);
    assert.match(olympus.url, /^wss:\/\//);
    const slaves = await controlIn(dir, ["slaves", "--json"]);
    assert.equal(slaves.code, 0, slaves.stderr);
    assert.equal((JSON.parse(slaves.stdout) as unknown[]).length, 1);
  });
});
