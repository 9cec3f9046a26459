/**
 * A newly generated Rails app on Debian's ruby-rails (6.1) and ruby-sqlite3,
 * with the real Zeus gem's upstream zeus.json and Zeus::Rails plan. Generating
 * one takes 10-20 s, so it is made once per recipe and Rails version under
 * os.tmpdir(), and each caller gets a fresh copy of it.
 */
import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gemGenerations, missingZeusGem, zeusGemLib, zeusGemRoot } from "./zeus-gem.js";

/**
 * --skip-javascript (webpacker), --skip-bootsnap and --skip-listen: the config would require gems Debian does not
 * package; --skip-spring: a second preloader has no place under this one; --no-rc: no ~/.railsrc.
 */
const RAILS_NEW_FLAGS = [
  "--skip-bundle",
  "--skip-git",
  "--skip-javascript",
  "--skip-bootsnap",
  "--skip-listen",
  "--skip-spring",
  "--no-rc",
];

const GEMFILE = "source 'https://rubygems.org'\ngem 'rails'\ngem 'sqlite3'\n";

/** Written after the steps below, over what the model generator wrote. */
const TESTS: Record<string, string> = {
  "test/models/widget_test.rb": [
    'require "test_helper"',
    "",
    "class WidgetTest < ActiveSupport::TestCase",
    '  test "keeps its name" do',
    '    Widget.create!(name: "sprocket")',
    '    assert_equal ["sprocket"], Widget.pluck(:name)',
    "  end",
    "end",
    "",
  ].join("\n"),
  "test/models/failing_widget_test.rb": [
    'require "test_helper"',
    "",
    "class FailingWidgetTest < ActiveSupport::TestCase",
    '  test "fails on purpose" do',
    '    assert_equal "cog", Widget.new(name: "sprocket").name',
    "  end",
    "end",
    "",
  ].join("\n"),
};

/** After `rails new` and the Gemfile, in the app directory. */
const STEPS: string[][] = [
  ["bundle", "install", "--local", "--quiet"],
  ["bin/rails", "generate", "model", "Widget", "name:string", "--no-fixture"],
  ["bin/rails", "db:migrate"],
  ["bin/rails", "db:test:prepare"],
];

/**
 * Rails 6.1's `parallelize` starts its DRb queue server as test_helper.rb loads, which under a preloader is in
 * the test_helper phase; the server's thread does not survive the fork into a command, so workers would wait forever.
 */
const PARALLEL_DEFAULT = "parallelize(workers: :number_of_processors)";
const PARALLEL_ONE = "parallelize(workers: 1)";

function rubyProbe(): { version: string } | { missing: string } {
  const probe = spawnSync("ruby", ["-e", 'require "rails/version"; require "sqlite3"; print Rails::VERSION::STRING'], {
    encoding: "utf8",
  });
  if (probe.status === 0) return { version: probe.stdout };
  const why = probe.error?.message ?? probe.stderr.trim().split("\n")[0];
  return {
    missing: `Rails or sqlite3 is missing for Ruby (${why}): install Debian's ruby-rails and ruby-sqlite3 (.ci/run does)`,
  };
}

const probe = rubyProbe();

/** Why no Rails app can be made here, or null. */
export const railsMissing: string | null = "missing" in probe ? probe.missing : null;

/**
 * Why the Rails tests cannot run here, or false. Under CI (env CI set) a
 * missing Rails fails the tests instead, as .ci/run installs it; the gem is
 * not installed but found beside the project, so without it they skip.
 */
export const railsSkip: string | false =
  missingZeusGem() ?? (railsMissing !== null && process.env.CI === undefined ? railsMissing : false);

const execFileAsync = promisify(execFile);

/** Runs to completion; stdin at its end, so a generator that asks a question fails instead of waiting. */
async function run(file: string, args: string[], cwd?: string): Promise<void> {
  const pending = execFileAsync(file, args, { cwd });
  pending.child.stdin?.end();
  await pending;
}

async function generate(directory: string): Promise<void> {
  await run("rails", ["new", directory, ...RAILS_NEW_FLAGS]);
  writeFileSync(join(directory, "Gemfile"), GEMFILE);
  const helper = join(directory, "test", "test_helper.rb");
  const original = readFileSync(helper, "utf8");
  if (!original.includes(PARALLEL_DEFAULT)) throw new Error(`${helper} no longer says ${PARALLEL_DEFAULT}`);
  writeFileSync(helper, original.replace(PARALLEL_DEFAULT, PARALLEL_ONE));
  for (const [file, ...args] of STEPS) await run(file!, args, directory);
  for (const [name, text] of Object.entries(TESTS)) writeFileSync(join(directory, name), text);
}

/** The cached generated app, made now if this recipe and Rails version have none yet. */
async function template(): Promise<string> {
  if ("missing" in probe) throw new Error(probe.missing);
  const recipe = createHash("sha256")
    .update(JSON.stringify([RAILS_NEW_FLAGS, GEMFILE, STEPS, TESTS, PARALLEL_ONE]))
    .digest("hex")
    .slice(0, 12);
  const cached = join(tmpdir(), `olympus-rails-${probe.version}-${recipe}`);
  if (existsSync(cached)) return cached;
  const build = mkdtempSync(join(tmpdir(), "olympus-rails-build-"));
  const app = join(build, "shop"); // the app's module is named after its directory
  try {
    await generate(app);
    renameSync(app, cached);
  } catch (error) {
    if (!existsSync(cached)) throw error; // else another test process made it first
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
  return cached;
}

const shellQuote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/** A fresh copy of the generated app, with the gem's upstream zeus.json whose root command loads the gem from where it lies. */
export async function railsApp(): Promise<string> {
  const app = mkdtempSync(join(tmpdir(), "olympus-rails-app-"));
  cpSync(await template(), app, { recursive: true });
  const missingGem = missingZeusGem();
  if (missingGem !== null) throw new Error(missingGem);
  const zeusJson = JSON.parse(
    readFileSync(join(zeusGemRoot, gemGenerations.modern, "examples", "zeus.json"), "utf8"),
  ) as { command: string };
  zeusJson.command = `ruby -I${shellQuote(zeusGemLib("modern"))} -rzeus/rails -eZeus.go`;
  writeFileSync(join(app, "zeus.json"), `${JSON.stringify(zeusJson, null, 2)}\n`);
  return app;
}
