import { Credits } from "../../shared/protocol/credits.js";
import type { DataOf } from "../../shared/protocol/definitions.js";
import type { Link } from "../../shared/protocol/link.js";
import { commandAckEvent, commandExitEvent, commandResumedEvent } from "../../shared/protocol/messages.js";
import type { OutputChunk } from "./local-command.js";
import { OutputGatherer } from "./output-gatherer.js";

type Exit = DataOf<typeof commandExitEvent>;

/**
 * Where one command's events go: the master link it was started or last
 * resumed on, and only that one. While that link is closed (its master died
 * and the agent registered elsewhere) nothing is sent: the output waits in
 * the command's replay log, its exit here, until a control resumes the
 * command on another link and says from which byte it needs them.
 */
export class CommandStream {
  private readonly gatherer: OutputGatherer;
  /** Input credit for the control; a resume tells it the total instead. */
  private readonly credits: Credits;
  private exit: Exit | null = null;

  constructor(
    private readonly id: string,
    private link: Link,
  ) {
    this.gatherer = new OutputGatherer((stream, pieces) => this.live()?.sendBytes(stream, id, pieces));
    this.credits = new Credits((bytes) => this.live()?.event(commandAckEvent, { command_id: id, bytes }));
  }

  /** Whether events for the command from `link` count: only its route's do, never a stale one's. */
  isOn(link: Link): boolean {
    return link === this.link;
  }

  output(stream: OutputChunk["stream"], data: Buffer): void {
    this.gatherer.add(stream, data);
  }

  inputConsumed(bytes: number): void {
    this.credits.consumed(bytes);
  }

  /** After the last byte of output; kept to be sent again on a resume. */
  ended(exit: Exit): void {
    this.gatherer.flush();
    this.exit = exit;
    this.live()?.event(commandExitEvent, exit);
  }

  /**
   * The command's route is `link` from now on: `resumed` goes there, then
   * `output` (the replay log past the control's position, which holds
   * whatever was gathered and not yet sent), then the exit if the command
   * has ended. The input consumed so far is told in `resumed`, so none of it
   * is granted again.
   */
  moveTo(link: Link, resumed: Omit<DataOf<typeof commandResumedEvent>, "input_consumed">, output: OutputChunk[]): void {
    this.gatherer.discard();
    this.link = link;
    link.event(commandResumedEvent, { ...resumed, input_consumed: this.credits.settle() });
    for (const { stream, data } of output) link.sendBytes(stream, this.id, [data]);
    if (this.exit !== null) link.event(commandExitEvent, this.exit);
  }

  private live(): Link | null {
    return this.link.closed ? null : this.link;
  }
}
