import type * as z from "./zod.js";

/** The three kinds of peer on the wire. */
export const roles = ["master", "slave", "control"] as const;
export type Role = (typeof roles)[number];

/** What a control's token lets it do, least first: each role may also send what the roles before it may. */
export const controlRoles = ["viewer", "operator", "admin"] as const;
export type ControlRole = (typeof controlRoles)[number];

type DataSchema = z.ZodMiniObject;

/**
 * Calls `build` once, on first use, and keeps what it returned. The catalogue's
 * schemas are built this way: a control is a short-lived process whose
 * start-up counts, and it uses only a few of the message types.
 */
export function memo<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => {
    built ??= { value: build() };
    return built.value;
  };
}

/** A handshake or session message: `hello`, `register_*`, `ready`, `close`. */
export interface PlainDefinition<T extends string = string, D extends DataSchema = DataSchema> {
  kind: "plain";
  type: T;
  from: readonly Role[];
  readonly data: D;
}

/** `<name>_event`: one-way, never answered. */
export interface EventDefinition<N extends string = string, D extends DataSchema = DataSchema> {
  kind: "event";
  type: `${N}_event`;
  from: readonly Role[];
  /** The least control role that may send it; declared by every message a control may send. */
  access?: ControlRole;
  readonly data: D;
}

/** `<name>_request`, answered by `<name>_response {seq, ...}` or `{seq, error}`. */
export interface RequestDefinition<
  N extends string = string,
  Q extends DataSchema = DataSchema,
  R extends DataSchema = DataSchema,
> {
  kind: "request";
  type: `${N}_request`;
  responseType: `${N}_response`;
  from: readonly Role[];
  /** The least control role that may send it; declared by every request a control may send. */
  access?: ControlRole;
  /** A control's request naming `data.slave` is relayed by the master to that slave. */
  forwardToSlave: boolean;
  readonly request: Q;
  readonly response: R;
}

export type Definition = PlainDefinition | EventDefinition | RequestDefinition;

export function plain<const T extends string, D extends DataSchema>(
  type: T,
  spec: { from: readonly Role[]; data: () => D },
): PlainDefinition<T, D> {
  const data = memo(spec.data);
  return {
    kind: "plain",
    type,
    from: spec.from,
    get data() {
      return data();
    },
  };
}

export function event<const N extends string, D extends DataSchema>(
  name: N,
  spec: { from: readonly Role[]; access?: ControlRole; data: () => D },
): EventDefinition<N, D> {
  const data = memo(spec.data);
  return {
    kind: "event",
    type: `${name}_event`,
    from: spec.from,
    access: spec.access,
    get data() {
      return data();
    },
  };
}

export function request<const N extends string, Q extends DataSchema, R extends DataSchema>(
  name: N,
  spec: { from: readonly Role[]; access?: ControlRole; forwardToSlave?: boolean; request: () => Q; response: () => R },
): RequestDefinition<N, Q, R> {
  const requestSchema = memo(spec.request);
  const responseSchema = memo(spec.response);
  return {
    kind: "request",
    type: `${name}_request`,
    responseType: `${name}_response`,
    forwardToSlave: spec.forwardToSlave ?? false,
    from: spec.from,
    access: spec.access,
    get request() {
      return requestSchema();
    },
    get response() {
      return responseSchema();
    },
  };
}

export type DataOf<D extends PlainDefinition | EventDefinition> = z.output<D["data"]>;
export type RequestOf<D extends RequestDefinition> = z.output<D["request"]>;
export type ResponseOf<D extends RequestDefinition> = z.output<D["response"]>;
