import { existsSync } from "node:fs";
import { join } from "node:path";
import { makeApp } from "./app.js";
import { projectRoot } from "./processes.js";

/**
 * The real Zeus gem, unmodified, where it lies beside the project
 * (`../shared/vendor/zeus-gem`, or OLYMPUS_ZEUS_GEM): HEAD speaks the modern
 * generation, v0.13.0 the classic one.
 */
export const zeusGemRoot = process.env.OLYMPUS_ZEUS_GEM ?? join(projectRoot, "..", "shared", "vendor", "zeus-gem");
export const gemGenerations = { modern: "head", classic: "v0.13.0" } as const;

export function zeusGemLib(generation: keyof typeof gemGenerations): string {
  return join(zeusGemRoot, gemGenerations[generation], "rubygem", "lib");
}

/** Why the gem tests cannot run here, or null when they can. */
export function missingZeusGem(): string | null {
  if (!existsSync(zeusGemLib("modern")) || !existsSync(zeusGemLib("classic")))
    return `the Zeus gem is not at ${zeusGemRoot} (set OLYMPUS_ZEUS_GEM)`;
  return null;
}

/** A plan in the gem's own style (a `Zeus::Plan` subclass), with phases that fail and commands for each test. */
const PLAN = `require 'zeus'

class TestPlan < Zeus::Plan
  def boot; end

  def default_environment
    require_relative 'lib/greeter'
  end

  def development_environment; end

  def failing
    require_relative 'lib/failing'
  end

  def echo
    puts Greeter.greet(ARGV)
  end

  def exit_with
    exit Integer(ARGV.first)
  end

  def crash
    raise ArgumentError, 'boom'
  end

  # Waits for a line, then greets with the code it was forked with.
  def wait
    puts "waiting #{Process.pid}"
    $stdout.flush
    line = $stdin.gets
    puts "got #{line.inspect}: #{Greeter.greet([])}"
  end

  def spin
    puts "spinning #{Process.pid}"
    $stdout.flush
    sleep
  end
end

Zeus.plan = TestPlan.new
`;

/** An app whose root command is the real gem of that generation. */
export function writeGemApp(generation: keyof typeof gemGenerations): string {
  return makeApp({
    "zeus.json": JSON.stringify({
      command: `ruby -I${zeusGemLib(generation)} -r./plan -eZeus.go`,
      plan: {
        boot: {
          default_environment: {
            development_environment: { echo: ["e"], exit_with: [], crash: [], wait: [], spin: [] },
          },
          failing: {},
        },
      },
    }),
    "plan.rb": PLAN,
    "lib/greeter.rb": "module Greeter\n  def self.greet(names) = \"hello #{names.join(' ')}\"\nend\n",
    "lib/failing.rb": "raise 'phase failed on purpose'\n",
  });
}
