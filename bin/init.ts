import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";

/** The tree of the shim's Django plan (slave/shims/python/olympus_zeus/django.py). */
const djangoPlan = {
  boot: { settings: { setup: { manage: [], shell: ["c"], runserver: ["s"], test_environment: { test: ["t"] } } } },
};

/** manage.py as `django-admin startproject` writes it names the settings in os.environ.setdefault(...). */
const SETTINGS_DEFAULT = /DJANGO_SETTINGS_MODULE["']\s*,\s*["']([A-Za-z_][\w.]*)["']/;

interface InitFlags {
  django?: boolean;
  python: string;
  settings?: string;
  force?: boolean;
}

/** Quotes a word for /bin/sh unless it is plainly safe. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

function settingsFromManagePy(directory: string): string {
  const managePy = join(directory, "manage.py");
  if (!existsSync(managePy))
    throw new Error(`no manage.py in ${directory}: run this in your Django project's directory`);
  const match = readFileSync(managePy, "utf8").match(SETTINGS_DEFAULT);
  if (match === null) throw new Error(`${managePy} does not name DJANGO_SETTINGS_MODULE: pass --settings MODULE`);
  return match[1] as string;
}

function initDjango(directory: string, flags: InitFlags): void {
  const target = join(directory, "zeus.json");
  if (existsSync(target) && !flags.force) throw new Error(`${target} exists: pass --force to replace it`);
  const settings = flags.settings ?? settingsFromManagePy(directory);
  const command = `DJANGO_SETTINGS_MODULE=${shellWord(settings)} ${shellWord(flags.python)} -m olympus_zeus olympus_zeus.django`;
  // Aliases on one line, as Zeus writes them.
  const json = JSON.stringify({ command, plan: djangoPlan }, null, 2).replace(
    /\[\s+([^[\]{}]*?)\s+\]/g,
    (_, names: string) => `[${names.split(/,\s+/).join(", ")}]`,
  );
  writeFileSync(target, `${json}\n`);
  console.log(`wrote ${target} (settings ${settings}, Python ${flags.python}); start it with: olympus start`);
  // A warning, not an error: the interpreter may be set up after this.
  const probe = spawnSync(flags.python, ["-c", "import django"], { cwd: directory, stdio: "ignore" });
  if (probe.status !== 0)
    process.stderr.write(`olympus init: warning: ${flags.python} cannot import django; pass --python INTERPRETER\n`);
}

/** `olympus init --django`: a zeus.json for the project in the current directory. */
export function initCommand(): Command {
  return new Command("init")
    .description("write a zeus.json for the project in this directory")
    .option("--django", "a Django project: finds manage.py and its settings module")
    .option("--python <interpreter>", "the Python that has Django installed", "python3")
    .option("--settings <module>", "the settings module (default: the one manage.py names)")
    .option("--force", "replace an existing zeus.json")
    .action((flags: InitFlags) => {
      if (!flags.django) throw new Error("init: say what kind of project this is: --django");
      initDjango(process.cwd(), flags);
    });
}
