import { join } from "node:path";
import { Command, Option } from "commander";
import { table } from "../control/cli/format.js";
import { type TokenRole, tokenRoles } from "../server/auth/roles.js";
import { STATE_DIRECTORY, TokenStore } from "../server/auth/tokens.js";

/** The store of the master that runs in this directory: the same secret and token list. */
function storeHere(): TokenStore {
  return new TokenStore(join(process.cwd(), STATE_DIRECTORY));
}

/** `olympus token create | list | revoke`. */
export function tokenCommand(): Command {
  const token = new Command("token").description(
    "issue, list and revoke tokens for the master that runs in this directory",
  );

  token
    .command("create")
    .description("sign a new token and print it alone on stdout's last line")
    .addOption(new Option("--role <role>", "what it may do").choices(tokenRoles).makeOptionMandatory())
    .option("--name <name>", "the name to list and revoke it by (default: the role and a random suffix)")
    .option("--expires-in <span>", "a lifetime such as 90m, 12h or 30d (default: none)")
    .action(async (options: { role: TokenRole; name?: string; expiresIn?: string }) => {
      const { token: signed, entry } = await storeHere().create(options);
      const expiry = entry.expires_at === null ? "" : `, expires ${entry.expires_at}`;
      process.stderr.write(`created ${entry.role} token ${JSON.stringify(entry.name)}${expiry}\n`);
      console.log(signed);
    });

  token
    .command("list")
    .description("list the tokens issued here")
    .option("--json", "print JSON")
    .action((options: { json?: boolean }) => {
      const entries = storeHere().list();
      if (options.json) return console.log(JSON.stringify(entries, null, 2));
      if (entries.length === 0) return console.log(`no tokens issued in ${join(process.cwd(), STATE_DIRECTORY)}`);
      const rows = entries.map((entry) => [
        entry.name,
        entry.role,
        entry.created_at,
        entry.expires_at ?? "never",
        entry.revoked_at ?? "no",
      ]);
      console.log(table(["NAME", "ROLE", "CREATED", "EXPIRES", "REVOKED"], rows));
    });

  token
    .command("revoke")
    .description("revoke a token: the master refuses it from now on and ends the sessions it opened")
    .argument("<name>", "the token's name")
    .action(async (name: string) => {
      const entry = await storeHere().revoke(name);
      if (entry.revoked_at === null) console.log(`revoked ${entry.role} token ${JSON.stringify(name)}`);
      else console.log(`token ${JSON.stringify(name)} was already revoked (${entry.revoked_at})`);
    });

  return token;
}
